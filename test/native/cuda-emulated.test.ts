// The CUDA kernels themselves, run without a GPU. The emulated-CUDA test addon
// (test/native/emucuda/: every custom kernel of cuda/*.cu compiled as C++ and run under CUDA's
// execution model, with device memory between guard pages) is offered to the loader as the CUDA
// build, and test/gpu's parity files run against it in a child vitest: the kernel files (ops,
// physics, attention and resampling, the attention over cuBLAS, the linear layers), the
// network file (a SongUNet's denoise, loss and every gradient, training steps with the native
// draws, one ddpmpp-small step, bf16 against fp32), the FID Inception on one image, and sampling
// with the solver state on the device (every solver against the CPU engine, and the emulator's copy
// log: no batch crosses to the host per evaluation). cuBLAS is emulated from its definition
// (emu_cublas.cc), so cuda/libs/linear.cu and cuda/libs/attention_blas.cu run as they are; cuDNN is
// not, and the emulator's convolutions are the CPU engine's (emu_libraries.cc); the Inception's are
// not cuDNN's, so they run as on a GPU. They
// run with PFGM_CUDA_NO_CACHING=1, so every device buffer has its exact extent and a read past it
// faults, and once more with each block's threads in reverse order, so a kernel whose result
// depends on the order of its threads between barriers (a race on a GPU) fails one of the runs.
//
// The emulator's own semantics and diagnostics are checked first, against CUDA's definitions.
// Built with the CUDA addon wherever the CUDA toolkit is found on x86-64 (CI has it); skipped
// otherwise.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { offeredAsCuda, repoRoot as root } from '../helpers/toolkit.js';

const work = mkdtempSync(join(tmpdir(), 'pfgm-emucuda-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
// A folder where the loader finds the emulator under the CUDA build's name.
const { present, addons } = offeredAsCuda('pfgm_emucuda.node', work);

function emulatorEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PFGM_ADDON_DIR: addons, PFGM_DEVICE: 'cuda', PFGM_CUDA_NO_CACHING: '1', ...extra };
}

interface SelfTest {
  ok: boolean;
  y?: number[];
  code?: string;
  message?: string;
}

/** One emu_selftest kind in a process of its own (faults leave the context unusable). */
function selfTest(kind: number, extra: Record<string, string> = {}): SelfTest {
  const script = `
    const { native } = await import(${JSON.stringify(join(root, 'dist', 'addon', 'load.js'))});
    try {
      const r = await native().runOp('emu_selftest', { kind: ${kind} }, {}, 'cuda');
      console.log(JSON.stringify({ ok: true, y: Array.from(r.y.data) }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, code: e.code, message: e.message }));
    }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: emulatorEnv(extra),
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as SelfTest;
}

interface VitestJson {
  numFailedTests: number;
  numPassedTests: number;
  testResults: { name: string; status: string; assertionResults: { title: string; status: string }[] }[];
}

/** test/gpu files in a child vitest on the emulated device; returns its JSON report. */
function gpuFiles(files: string[], extra: Record<string, string> = {}, pattern?: string): VitestJson {
  const report = join(work, `report-${Date.now()}.json`);
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      ...files.map((f) => join('test', 'gpu', f)),
      '--reporter=json',
      `--outputFile=${report}`,
      ...(pattern ? ['--testNamePattern', pattern] : []),
    ],
    { cwd: root, encoding: 'utf8', env: emulatorEnv(extra), maxBuffer: 64 * 2 ** 20 },
  );
  const json = JSON.parse(readFileSync(report, 'utf8')) as VitestJson;
  const failed = json.testResults.flatMap((f) =>
    f.assertionResults.filter((t) => t.status === 'failed').map((t) => `${f.name}: ${t.title}`),
  );
  expect(failed, r.stderr.slice(-4000)).toEqual([]);
  expect(r.status).toBe(0);
  return json;
}

/** Titles per status, for one file of a report. */
function statuses(json: VitestJson, file: string): Record<string, string[]> {
  const result = json.testResults.find((f) => f.name.endsWith(file));
  expect(result, `${file} ran`).toBeDefined();
  const by: Record<string, string[]> = {};
  for (const t of result?.assertionResults ?? []) by[t.status] = [...(by[t.status] ?? []), t.title];
  return by;
}

describe.skipIf(!present)('the CUDA emulator', () => {
  it('runs shared memory, shuffles, ballots and barrier votes as CUDA defines them', () => {
    const r = selfTest(0);
    expect(r.ok, r.message).toBe(true);
    const y = r.y ?? [];
    expect(y.length).toBe(64 * 8);
    for (let t = 0; t < 64; t++) {
      const lane = t % 32;
      const warp = t - lane;
      let ballot = 0;
      for (let l = 0; l < 16; l++) if (l % 3 === 0) ballot |= 1 << l;
      // neighbour's shared write, warp sum by xor butterfly, shfl_up 1, shfl_down 2, shfl idx 5,
      // ballot (low 16 bits), __syncthreads_or(t == 37) + 2 __syncthreads_and(t != 50), _count(t % 4 == 0)
      const want = [
        (t + 1) % 64,
        32 * warp + 496,
        lane >= 1 ? t - 1 : t,
        lane + 2 < 32 ? t + 2 : t,
        warp + 5,
        ballot,
        1,
        16,
      ];
      expect(y.slice(t * 8, t * 8 + 8), `thread ${t}`).toEqual(want);
    }
  });

  it('turns what would hang or corrupt a GPU into a named CUDA error', () => {
    const divergent = selfTest(1);
    expect(divergent).toMatchObject({ ok: false, code: 'ERR_PFGM_CUDA' });
    expect(divergent.message).toMatch(
      /cudaErrorLaunchFailure .*kernel divergent_kernel, block \(0,0,0\).*threads 0-15 wait at __syncthreads; threads 16-31 wait at a warp intrinsic.*restart the process/,
    );
    const past = selfTest(2);
    expect(past.message).toMatch(
      /cudaErrorIllegalAddress .*kernel past_the_end_kernel, block \(0,0,0\), thread \(0,0,0\): touched address 0x[0-9a-f]+, 0 bytes past the end of a 64-byte device allocation/,
    );
    const exited = selfTest(3);
    expect(exited.message).toMatch(/kernel exited_lane_kernel.*mask names lane 16, which has exited/);
    const config = selfTest(5);
    expect(config).toMatchObject({ ok: false, code: 'ERR_PFGM_CUDA' });
    expect(config.message).toMatch(
      /cudaErrorInvalidConfiguration .*empty_kernel with grid \(1,1,1\) and block \(2048,1,1\)/,
    );
    expect(config.message).not.toMatch(/restart the process/); // not sticky, as on a GPU
  });

  it('records a captured stream and replays it, and refuses what CUDA forbids while capturing', () => {
    const script = `
      const { native } = await import(${JSON.stringify(join(root, 'dist', 'addon', 'load.js'))});
      const r = await native().runOp('emu_capture_selftest', {}, {}, 'cuda');
      console.log(JSON.stringify(Array.from(r.flags.data)));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: emulatorEnv(),
    });
    expect(r.status, r.stderr).toBe(0);
    // nothing ran while capturing; two launches ran it twice; synchronizing, then a launch on the
    // legacy stream, each fail and invalidate their capture; cudaMalloc fails unless relaxed
    expect(JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]')).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('PFGM_EMU_ORDER=reverse changes what an order-dependent kernel computes', () => {
    const forward = selfTest(4);
    const reverse = selfTest(4, { PFGM_EMU_ORDER: 'reverse' });
    expect(forward.y).toEqual(new Array(64).fill(63));
    expect(reverse.y).toEqual(new Array(64).fill(0));
  });
});

describe.skipIf(!present)('test/gpu on the emulated device', () => {
  const kernels = [
    'ops-parity.test.ts',
    'physics-parity.test.ts',
    'attention-resample-parity.test.ts',
    'attention-blas-parity.test.ts',
  ];
  // What is skipped by design: the caching allocator's reuse (PFGM_CUDA_NO_CACHING=1 turns the
  // cache off) and the refusal of a build without cuBLAS (this one has the emulated cuBLAS).
  const skippedByDesign: Record<string, string[]> = {
    'ops-parity.test.ts': ['the caching allocator reuses on the same stream only and returns memory on release'],
    'attention-blas-parity.test.ts': ['refuses with ERR_PFGM_DEVICE naming CUBLAS_ROOT, after the shape checks'],
  };

  it('kernel, cuBLAS-attention and network parity pass with exact device allocations', { timeout: 600_000 }, () => {
    const files = [
      ...kernels,
      'network-parity.test.ts',
      'sample-resident-parity.test.ts',
      'graph-cache.test.ts',
      'graph-train.test.ts',
    ];
    const json = gpuFiles(files);
    // Every test ran (none skipped for want of a device) but those skipped by design.
    for (const file of files) {
      const by = statuses(json, file);
      expect(by.passed?.length ?? 0, file).toBeGreaterThan(0);
      const skipped = [...(by.skipped ?? []), ...(by.pending ?? []), ...(by.todo ?? [])];
      expect(skipped, file).toEqual(skippedByDesign[file] ?? []);
    }
    expect(json.numPassedTests).toBeGreaterThanOrEqual(130);
  });

  it('libs/linear.cu passes its parity over the emulated cuBLAS, in fp32, tf32 and bf16', { timeout: 600_000 }, () => {
    // The convolutions here are the CPU's (cuDNN is not emulated), so only the linear layers,
    // the bias gradient and the bf16 rounding kernels of that file are meaningful on this device.
    const json = gpuFiles(
      ['conv-linear-parity.test.ts'],
      {},
      'linear (fp32|tf32|bf16):|linear inputs, outputs|bias gradient over many rows|bf16 rounding on the GPU',
    );
    const by = statuses(json, 'conv-linear-parity.test.ts');
    expect(by.passed?.filter((t) => /^linear (fp32|tf32|bf16):/.test(t)).length).toBe(18);
    expect(by.passed?.length).toBeGreaterThanOrEqual(26);
  });

  it('the FID Inception runs its whole graph on the real kernels within 1e-5 of PyTorch and the CPU', {
    timeout: 300_000,
  }, () => {
    // One image (about 20 s here): the patch matrices, the emulated cuBLAS GEMM, the pools, the
    // resize and the concatenations of cuda/kernels/ with exact device extents.
    const json = gpuFiles(['inception-parity.test.ts'], {}, 'one image');
    expect(statuses(json, 'inception-parity.test.ts').passed?.length).toBe(1);
  });

  it('the kernels give the same results with the threads of each block in reverse order', { timeout: 600_000 }, () => {
    const json = gpuFiles(['ops-parity.test.ts', 'attention-resample-parity.test.ts'], { PFGM_EMU_ORDER: 'reverse' });
    expect(json.numPassedTests).toBeGreaterThan(50);
  });
});
