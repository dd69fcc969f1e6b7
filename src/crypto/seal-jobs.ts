// What the seal pool and its worker threads say to each other (types only, shared by both sides).

/** Seal `secret` as ENC_488 (sealSession). */
export interface SealJob {
  type: number;
  key: Uint8Array;
  salt12: Uint8Array;
  secret: Uint8Array;
}

/** Open an ENC_488 `msg` with the receiver's own nonce (openSession). */
export interface OpenJob {
  type: number;
  key: Uint8Array;
  localNonce: Uint8Array;
  msg: Uint8Array;
}

export type WorkerJob = ({ op: 'seal' } & SealJob) | ({ op: 'open' } & OpenJob);

export type WorkerJobWithId = WorkerJob & { id: number };

export interface WorkerReply {
  id: number;
  /** The sealed message, the opened plaintext, or null (does not open, or failed). */
  bytes: Uint8Array | null;
  error?: string;
}
