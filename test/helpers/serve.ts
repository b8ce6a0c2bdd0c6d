// A tiny class-conditional U-Net with weights of a useful scale (so samples depend on the network,
// the seed and the class), small enough that a sampling request takes milliseconds: what the
// pfgm serve tests and the Sampler's batch tests run on.
import { preset } from '../../src/models/config.js';
import { createNetwork, type Network } from '../../src/models/network.js';

export function tinyUnet(): Network {
  const net = createNetwork(
    preset('ddpmpp-small', {
      imgResolution: 8,
      modelChannels: 8,
      channelMult: [1, 2],
      numBlocks: 1,
      attnResolutions: [],
      labelDim: 3,
      dropout: 0,
    }),
    { D: 128, sigmaData: 0.5, seed: 3 },
  );
  const w = net.stateDict('raw');
  for (const t of w.values()) for (let i = 0; i < t.length; i++) t[i] = Math.sin(i * 12.9898 + t.length) * 0.2;
  net.loadStateDict(w, 'both');
  return net;
}
