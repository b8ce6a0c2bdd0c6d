// Which rank a process is, from the variables of each launcher pfgm recognises (torchrun's,
// SLURM's, Open MPI's, its own), and the command line a launched worker runs.
import { describe, expect, it } from 'vitest';
import { workerArgs } from '../../src/cli/trainDistributed.js';
import { rankEnvironment } from '../../src/distributed/env.js';

describe('rankEnvironment', () => {
  it('is undefined outside a launcher and for a world of one', () => {
    expect(rankEnvironment({})).toBeUndefined();
    expect(rankEnvironment({ RANK: '0', WORLD_SIZE: '1' })).toBeUndefined();
    expect(rankEnvironment({ SLURM_PROCID: '0', SLURM_NTASKS: '1' })).toBeUndefined();
  });

  it("reads torchrun's variables", () => {
    expect(
      rankEnvironment({
        RANK: '5',
        WORLD_SIZE: '8',
        LOCAL_RANK: '1',
        LOCAL_WORLD_SIZE: '4',
        MASTER_ADDR: 'node0',
        MASTER_PORT: '1234',
      }),
    ).toEqual({
      rank: 5,
      worldSize: 8,
      localRank: 1,
      localWorldSize: 4,
      masterAddr: 'node0',
      masterPort: 1234,
      launcher: 'torchrun',
    });
    // One machine: loopback and torchrun's default port.
    expect(rankEnvironment({ RANK: '1', WORLD_SIZE: '2', PFGM_LAUNCHER: '1' })).toMatchObject({
      masterAddr: '127.0.0.1',
      masterPort: 29500,
      localRank: 1,
      launcher: 'pfgm',
    });
  });

  it("reads SLURM's and Open MPI's", () => {
    expect(
      rankEnvironment({
        SLURM_PROCID: '3',
        SLURM_NTASKS: '4',
        SLURM_LOCALID: '1',
        SLURM_NTASKS_PER_NODE: '2(x2)',
        MASTER_ADDR: '10.0.0.1',
      }),
    ).toMatchObject({
      rank: 3,
      worldSize: 4,
      localRank: 1,
      localWorldSize: 2,
      masterAddr: '10.0.0.1',
      launcher: 'slurm',
    });
    expect(
      rankEnvironment({
        OMPI_COMM_WORLD_RANK: '2',
        OMPI_COMM_WORLD_SIZE: '3',
        OMPI_COMM_WORLD_LOCAL_RANK: '2',
        OMPI_COMM_WORLD_LOCAL_SIZE: '3',
      }),
    ).toMatchObject({ rank: 2, worldSize: 3, localRank: 2, masterAddr: '127.0.0.1', launcher: 'openmpi' });
  });

  it('refuses inconsistent or malformed variables, naming them', () => {
    expect(() => rankEnvironment({ RANK: '2', WORLD_SIZE: '2' })).toThrow(/rank 2 is outside a world of 2 ranks/);
    expect(() => rankEnvironment({ RANK: 'x', WORLD_SIZE: '2' })).toThrow(/RANK=x must be an integer/);
    expect(() => rankEnvironment({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '70000' })).toThrow(/MASTER_PORT=70000/);
    // Several machines need the master's address.
    expect(() => rankEnvironment({ RANK: '0', WORLD_SIZE: '4', LOCAL_WORLD_SIZE: '2' })).toThrow(
      /MASTER_ADDR is not set/,
    );
  });
});

describe('workerArgs', () => {
  it("drops the launcher's flags and keeps the rest", () => {
    expect(
      workerArgs([
        '--data',
        'toy:moons',
        '--nproc-per-node',
        '2',
        '--master-port=1234',
        '--out',
        'x',
        '--dist-timeout',
        '5',
      ]),
    ).toEqual(['--data', 'toy:moons', '--out', 'x']);
  });
});
