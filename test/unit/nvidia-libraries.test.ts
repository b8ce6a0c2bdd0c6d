// How the prebuilt CUDA addon's libraries are found (src/addon/nvidiaLibraries.ts): the search order
// (<NAME>_ROOT, the dynamic loader, the CUDA toolkit, NVIDIA's Python wheels), cuBLAS taken from
// cuBLASLt's folder, a library that fails to open skipped for the next, and the fix named for one
// that is nowhere. The files are empty stand-ins; `open` records what it is asked for.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ncclSearchPath, nvidiaSearchFolders, preloadNvidiaLibraries } from '../../src/addon/nvidiaLibraries.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-nvidia-libs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function file(...parts: string[]): string {
  const path = join(work, ...parts);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '');
  return path;
}

const venv = join(work, 'venv');
const wheels = join(venv, 'lib', 'python3.12', 'site-packages', 'nvidia');
const toolkit = join(work, 'cuda');
// HOME and the system folders are outside `work`: nothing there is ever an empty stand-in.
const env = { VIRTUAL_ENV: venv, CUDA_HOME: toolkit, HOME: join(work, 'home') };

describe('nvidiaSearchFolders', () => {
  it('puts <NAME>_ROOT first, then the toolkit, then the wheels of each Python', () => {
    mkdirSync(join(venv, 'lib', 'python3.12'), { recursive: true });
    const { first, last } = nvidiaSearchFolders('libcudnn.so.9', { ...env, CUDNN_ROOT: '/opt/cudnn' });
    expect(first).toEqual(['/opt/cudnn/lib', '/opt/cudnn/lib64', '/opt/cudnn']);
    expect(last.slice(0, 2)).toEqual([join(toolkit, 'lib64'), join(toolkit, 'targets', 'x86_64-linux', 'lib')]);
    expect(last).toContain(join(wheels, 'cudnn', 'lib'));
    expect(last.indexOf(join(toolkit, 'lib64'))).toBeLessThan(last.indexOf(join(wheels, 'cudnn', 'lib')));
    // cuBLAS 13's wheel unpacks into nvidia/cu13, older ones into nvidia/cublas.
    const cublas = nvidiaSearchFolders('libcublasLt.so.13', env).last;
    expect(cublas).toContain(join(wheels, 'cu13', 'lib'));
    expect(cublas).toContain(join(wheels, 'cublas', 'lib'));
    expect(nvidiaSearchFolders('libfoo.so.1', env)).toEqual({ first: [], last: [] });
  });
});

describe('preloadNvidiaLibraries', () => {
  it('tries the root, then the loader, then the toolkit, then the wheels, and stops at the first that opens', () => {
    const inWheel = file('venv', 'lib', 'python3.12', 'site-packages', 'nvidia', 'cudnn', 'lib', 'libcudnn.so.9');
    const asked: string[] = [];
    const open = (name: string) => {
      asked.push(name);
      if (name !== inWheel) throw new Error(`${name}: cannot open shared object file`);
      return name;
    };
    const [cudnn] = preloadNvidiaLibraries(['libcudnn.so.9'], open, env);
    expect(cudnn).toEqual({ soname: 'libcudnn.so.9', path: inWheel });
    // Folders without the file are not asked; the loader's own search (the bare soname) comes before.
    expect(asked).toEqual(['libcudnn.so.9', inWheel]);
  });

  it('prefers the loader over the toolkit and the root over the loader', () => {
    const inToolkit = file('cuda', 'lib64', 'libcublasLt.so.13');
    const inRoot = file('root', 'lib', 'libcublasLt.so.13');
    const opened = (name: string) => name;
    expect(preloadNvidiaLibraries(['libcublasLt.so.13'], opened, env)[0]?.path).toBe('libcublasLt.so.13');
    const notByLoader = (name: string) => {
      if (!name.startsWith('/')) throw new Error('not found');
      return name;
    };
    expect(preloadNvidiaLibraries(['libcublasLt.so.13'], notByLoader, env)[0]?.path).toBe(inToolkit);
    expect(
      preloadNvidiaLibraries(['libcublasLt.so.13'], notByLoader, { ...env, CUBLAS_ROOT: join(work, 'root') })[0]?.path,
    ).toBe(inRoot);
  });

  it('opens cuBLASLt before cuBLAS and takes cuBLAS from the same folder', () => {
    const lt = file('cuda2', 'lib64', 'libcublasLt.so.13');
    const blas = file('cuda2', 'lib64', 'libcublas.so.13');
    file('venv', 'lib', 'python3.12', 'site-packages', 'nvidia', 'cu13', 'lib', 'libcublas.so.13');
    const asked: string[] = [];
    const open = (name: string) => {
      asked.push(name);
      if (!name.startsWith(join(work, 'cuda2'))) throw new Error('not found');
      return name;
    };
    const result = preloadNvidiaLibraries(['libcublas.so.13', 'libcublasLt.so.13'], open, {
      ...env,
      CUDA_HOME: join(work, 'cuda2'),
    });
    expect(result).toEqual([
      { soname: 'libcublasLt.so.13', path: lt },
      { soname: 'libcublas.so.13', path: blas },
    ]);
    expect(asked.indexOf(blas)).toBe(asked.findIndex((a) => a.endsWith('libcublas.so.13')));
  });

  it('skips a copy that fails to open and names the exact fix for a library found nowhere', () => {
    const broken = file('cuda3', 'lib64', 'libcudnn.so.9');
    const open = (name: string): string => {
      throw new Error(`${name}: wrong ELF class`);
    };
    const result = preloadNvidiaLibraries(['libcudnn.so.9', 'libcublas.so.13'], open, {
      ...env,
      CUDA_HOME: join(work, 'cuda3'),
    });
    // In dependency order: cuBLAS before cuDNN.
    expect(result.map((l) => l.soname)).toEqual(['libcublas.so.13', 'libcudnn.so.9']);
    const [blas, cudnn] = result;
    expect(broken).toBeTruthy();
    expect(cudnn?.path).toBeUndefined();
    expect(cudnn?.fix).toMatch(/pip install nvidia-cudnn-cu13/);
    expect(cudnn?.fix).toMatch(/apt-get install libcudnn9-cuda-13/);
    expect(blas?.fix).toMatch(/pip install nvidia-cublas/);
  });
});

describe('ncclSearchPath', () => {
  it('lists the folders that hold libnccl.so.2, for PFGM_NCCL_SEARCH_PATH', () => {
    const nccl = file('venv', 'lib', 'python3.12', 'site-packages', 'nvidia', 'nccl', 'lib', 'libnccl.so.2');
    // The machine's own NCCL (a toolkit, a system wheel) may be listed too.
    expect(ncclSearchPath(env).split(':')).toContain(join(nccl, '..'));
    expect(ncclSearchPath({ ...env, VIRTUAL_ENV: join(work, 'none') }).split(':')).not.toContain(join(nccl, '..'));
  });
});
