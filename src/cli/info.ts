/**
 * Human-readable form of {@link DeviceInfo} for `pfgm info`, and the networks it can build.
 *
 * @module
 */
import type { DeviceName } from '../addon/deviceInfo.js';
import type { DeviceInfo } from '../addon/load.js';
import { networkKinds, presetNames } from '../models/config.js';

/** The network families and presets, as `pfgm info` lists them (JSON: its `networks` field). */
export function networkSummary(): { kinds: string[]; presets: string[] } {
  return { kinds: networkKinds.map((k) => k.kind), presets: [...presetNames] };
}

/**
 * Where `pfgm eval`'s Inception-v3 runs by default: the device a network would use
 * (`resolveNetworkDevice('auto')`), so CUDA only with a usable GPU and cuDNN and cuBLAS linked in.
 */
export function inceptionDevice(info: DeviceInfo): DeviceName {
  const c = info.cuda;
  return info.backend === 'cuda' && c.available && c.cudnn && c.cublas ? 'cuda' : 'cpu';
}

/** Formats the device report, one fact a line. */
export function formatDeviceInfo(info: DeviceInfo, version: string): string {
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  const cuda = info.cuda;
  const gpu = cuda.available
    ? `${cuda.name} (compute ${cuda.computeCapability}, ${gib(cuda.memoryBytes ?? 0)})`
    : `not used — ${cuda.reason}`;
  return [
    `pfgm ${version}`,
    `backend:  ${info.backend} (${info.reason})`,
    `addon:    ${info.addonPath} (${info.addonOrigin})`,
    `cpu:      ${info.cpu.threads} threads, oneDNN ${info.cpu.onednn} (${info.cpu.isa})`,
    info.requested === 'cpu'
      ? 'cuda:     not checked (PFGM_DEVICE=cpu)'
      : `cuda:     ${cuda.compiled ? `built${info.cudaAddonOrigin ? ` (${info.cudaAddonOrigin})` : ''} (cuDNN ${cuda.cudnn ? 'yes' : 'no'}, cuBLAS ${cuda.cublas ? 'yes' : 'no'})` : 'not built'}; ${gpu}`,
    ...(info.nvidiaLibraries ?? []).map(
      (lib) => `${`${lib.soname}:`.padEnd(9)} ${lib.path ?? `not found — ${lib.fix ?? 'install it'}`}`,
    ),
    `fid:      Inception-v3 on ${inceptionDevice(info) === 'cuda' ? 'cuda (fp32)' : 'cpu (oneDNN)'}`,
    `gloo:     ${info.collectives.gloo.available ? 'yes' : 'no'} — ${info.collectives.gloo.detail}`,
    `nccl:     ${info.collectives.nccl.available ? 'yes' : 'no'} — ${info.collectives.nccl.detail}`,
    `networks: ${networkKinds.map((k) => `${k.kind} (${k.description})`).join(', ')}`,
    `presets:  ${presetNames.join(', ')}`,
    '',
  ].join('\n');
}
