/**
 * How `pfgm train` answers Ctrl-C and SIGTERM: stop after the step, save, and never lose the
 * checkpoint being written to a second signal.
 *
 * @internal
 * @module
 */

/**
 * Ctrl-C and SIGTERM during training. The first signal stops the run after the current step and
 * saves the checkpoint; a second one while a checkpoint is being written waits for it (and says
 * so); a third forces the exit at once (the checkpoint being written is lost, the previous one
 * stays). The exit code is 128 + the first signal's number: 130 for SIGINT, 143 for SIGTERM.
 */
export class StopSignals {
  readonly abort = new AbortController();
  #count = 0;
  #first: NodeJS.Signals | undefined;
  #writing = false;
  #finished = false;
  readonly #out: string;
  readonly #handler = (signal: NodeJS.Signals) => this.#onSignal(signal);

  constructor(out: string) {
    this.#out = out;
  }

  /** 130 after SIGINT, 143 after SIGTERM. */
  get exitCode(): number {
    return this.#first === 'SIGTERM' ? 143 : 130;
  }

  install(): void {
    process.on('SIGINT', this.#handler);
    process.on('SIGTERM', this.#handler);
  }

  /**
   * The run is over. Without a signal the handlers go; after one they stay until the process
   * ends, so that a late signal exits with the right code instead of killing the process.
   */
  finish(): void {
    this.#finished = true;
    if (this.#count === 0) {
      process.off('SIGINT', this.#handler);
      process.off('SIGTERM', this.#handler);
    }
  }

  /** Runs a checkpoint save; a signal during it waits for it. */
  async saving<T>(save: () => Promise<T>): Promise<T> {
    if (this.abort.signal.aborted) process.stderr.write(`pfgm train: saving the checkpoint to ${this.#out} ...\n`);
    this.#writing = true;
    try {
      return await save();
    } finally {
      this.#writing = false;
    }
  }

  #onSignal(signal: NodeJS.Signals): void {
    this.#count++;
    if (this.#finished) process.exit(this.exitCode);
    if (this.#count === 1) {
      this.#first = signal;
      process.stderr.write(
        `\npfgm train: ${signal}: stopping after this step and saving the checkpoint (a third signal forces the exit)\n`,
      );
      this.abort.abort(new Error('interrupted'));
    } else if (this.#count === 2) {
      process.stderr.write(
        this.#writing
          ? 'pfgm train: still saving the checkpoint: waiting for it to finish (a third signal forces the exit and loses this save)\n'
          : 'pfgm train: stopping: waiting for the step to end and the checkpoint to be saved (a third signal forces the exit)\n',
      );
    } else {
      process.stderr.write(
        `pfgm train: forced exit${this.#writing ? `: the checkpoint being written is lost, the previous one in ${this.#out} is kept` : ''}\n`,
      );
      process.exit(this.exitCode);
    }
  }
}
