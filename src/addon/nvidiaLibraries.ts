/**
 * Finding NVIDIA's libraries for the prebuilt CUDA addon (docs/dev/release.md, "The CUDA
 * package"). The addon names cuDNN and cuBLAS by soname; they are wherever this machine has them,
 * so each is looked for, in order, in the folder its `<NAME>_ROOT` variable names, through the
 * dynamic loader (LD_LIBRARY_PATH, the ld.so cache), in the CUDA toolkit, and in NVIDIA's Python
 * wheels (`site-packages/nvidia/<name>/lib`), and opened there before the addon is loaded, so the
 * addon's sonames resolve to it. NCCL is opened later by the addon itself; the folders found for it
 * are handed over in `PFGM_NCCL_SEARCH_PATH`.
 *
 * @module
 */
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { NvidiaLibraryInfo } from './deviceInfo.js';

/** The library families, the variable naming each one's folder, its wheel folders and its fix. */
const FAMILIES = [
  {
    prefix: 'libcudnn',
    root: 'CUDNN_ROOT',
    wheels: ['cudnn'],
    fix: "install cuDNN 9 for CUDA 13: `pip install nvidia-cudnn-cu13`, or `apt-get install libcudnn9-cuda-13` from NVIDIA's CUDA repository, or set CUDNN_ROOT to its folder",
  },
  {
    prefix: 'libcublas',
    root: 'CUBLAS_ROOT',
    wheels: ['cu13', 'cublas'],
    fix: "install cuBLAS 13: `pip install nvidia-cublas`, or `apt-get install libcublas-13-0` from NVIDIA's CUDA repository (or the CUDA toolkit), or set CUBLAS_ROOT to its folder",
  },
  {
    prefix: 'libnccl',
    root: 'NCCL_ROOT',
    wheels: ['nccl', 'cu13'],
    fix: "install NCCL: `pip install nvidia-nccl-cu13`, or the distribution's libnccl2",
  },
] as const;

type Family = (typeof FAMILIES)[number];

function familyOf(soname: string): Family | undefined {
  // libcublasLt belongs with libcublas (one release, one folder).
  return FAMILIES.find((f) => soname.startsWith(f.prefix));
}

function sitePackages(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  const pythons = (lib: string, leaves: string[]) => {
    let names: string[] = [];
    try {
      names = readdirSync(lib).filter((n) => /^python3(\.\d+)?$/.test(n));
    } catch {
      return;
    }
    for (const name of names.sort().reverse()) for (const leaf of leaves) out.push(join(lib, name, leaf));
  };
  for (const prefix of [env.VIRTUAL_ENV, env.CONDA_PREFIX]) {
    if (prefix) pythons(join(prefix, 'lib'), ['site-packages']);
  }
  pythons(join(env.HOME ?? homedir(), '.local', 'lib'), ['site-packages']);
  pythons('/usr/local/lib', ['dist-packages', 'site-packages']);
  pythons('/usr/lib', ['dist-packages', 'site-packages']);
  return out;
}

/**
 * The folders searched for a family's libraries, in order, without the dynamic loader's own
 * search (which {@link preloadNvidiaLibraries} puts second): `<NAME>_ROOT`, then the toolkit and the
 * wheels. Exported for the tests.
 */
export function nvidiaSearchFolders(
  soname: string,
  env: NodeJS.ProcessEnv = process.env,
): {
  first: string[];
  last: string[];
} {
  const family = familyOf(soname);
  if (family === undefined) return { first: [], last: [] };
  const root = env[family.root];
  const first = root ? [join(root, 'lib'), join(root, 'lib64'), root] : [];
  const arch = process.arch === 'arm64' ? 'sbsa-linux' : 'x86_64-linux';
  const toolkits = [env.CUDA_HOME, env.CUDA_PATH, '/usr/local/cuda'].filter((d): d is string => Boolean(d));
  const last = [
    ...toolkits.flatMap((t) => [join(t, 'lib64'), join(t, 'targets', arch, 'lib')]),
    ...sitePackages(env).flatMap((s) => family.wheels.map((w) => join(s, 'nvidia', w, 'lib'))),
  ];
  return { first, last: [...new Set(last)] };
}

/** Loads a library by absolute path or soname and says from where (the preloader's `open`). */
export type OpenLibrary = (nameOrPath: string) => string;

// Dependencies before the libraries that need them: cuBLAS needs cuBLASLt.
const ORDER = ['libcublasLt', 'libcublas', 'libcudnn'];
const rank = (soname: string) => {
  const i = ORDER.findIndex((p) => soname.startsWith(p));
  return i < 0 ? ORDER.length : i;
};

/**
 * Finds and opens each of `needs` (sonames) with `open`, in dependency order. A library of a
 * family already found is looked for first in the same folder, so cuBLAS and cuBLASLt come from
 * one release. Returns where each was found or the fix for each that was not.
 */
export function preloadNvidiaLibraries(
  needs: readonly string[],
  open: OpenLibrary,
  env: NodeJS.ProcessEnv = process.env,
): NvidiaLibraryInfo[] {
  const found = new Map<string, string>();
  const results: NvidiaLibraryInfo[] = [];
  for (const soname of [...needs].sort((a, b) => rank(a) - rank(b))) {
    const family = familyOf(soname);
    const { first, last } = nvidiaSearchFolders(soname, env);
    const sibling = family ? found.get(family.prefix) : undefined;
    const attempts = [
      ...(sibling ? [join(sibling, soname)] : []),
      ...first.map((d) => join(d, soname)),
      soname,
      ...last.map((d) => join(d, soname)),
    ];
    let path: string | undefined;
    for (const attempt of attempts) {
      if (attempt !== soname && !existsSync(attempt)) continue;
      try {
        path = open(attempt);
        break;
      } catch {
        // Not loadable from there (wrong architecture, a missing dependency): try the next one.
      }
    }
    if (path !== undefined) {
      if (family) found.set(family.prefix, dirname(path));
      results.push({ soname, path });
    } else {
      results.push({ soname, fix: family?.fix ?? `install the library that provides ${soname}` });
    }
  }
  return results;
}

/** The folders that hold libnccl.so.2 outside the loader's own search, for PFGM_NCCL_SEARCH_PATH. */
export function ncclSearchPath(env: NodeJS.ProcessEnv = process.env): string {
  const { first, last } = nvidiaSearchFolders('libnccl.so.2', env);
  return [...first, ...last].filter((d) => existsSync(join(d, 'libnccl.so.2'))).join(':');
}
