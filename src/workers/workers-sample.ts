// What the supervisor of `io-server --workers` tells its workers about the host, so that each worker's /metrics
// shows it (the primary serves no HTTP). The figures are the host's, the same on every worker: aggregate them
// with max(), not sum().

/** The IPC topic of the supervisor's tells (ipc.ts). */
export const SUPERVISOR_TOPIC = 'supervisor';

/** The host's workers as the supervisor sees them, the same on every worker (aggregate with max). */
export interface WorkersSample {
  /** This worker's slot (0 … wanted − 1); its node id ends in -w<slot>. */
  slot: number;
  /** Worker processes asked for. */
  wanted: number;
  /** Workers serving now (listeners bound). */
  up: number;
  /** Workers restarted since the primary started. */
  restarts: number;
  /** Slots waiting out a back-off before their next start. */
  backingOff: number;
  /** The longest back-off being waited now, in ms (0: none). */
  backoffMs: number;
}

/** Primary → worker: the latest figures. Worker → primary: it serves. */
export interface SupervisorTell {
  figures?: WorkersSample;
  ready?: true;
}
