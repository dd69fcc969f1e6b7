// Worker thread of the seal pool: seals and opens large ENC_488 messages off the broker's event loop.
// One job at a time; every job is answered, with the bytes (their memory transferred, not copied) or an error.
import { parentPort } from 'node:worker_threads';
import { openSession, sealSession } from './frames.js';
import type { WorkerJob, WorkerJobWithId, WorkerReply } from './seal-jobs.js';

/** Bytes that can be handed over without a copy: a view of a whole ArrayBuffer of its own. */
function transferable(bytes: Uint8Array): Uint8Array {
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  return own ? bytes : new Uint8Array(bytes);
}

function run(job: WorkerJob): Uint8Array | null {
  if (job.op === 'seal') return sealSession(job.type, job.key, job.salt12, job.secret);
  const opened = openSession(job.type, job.key, job.localNonce, job.msg);
  return opened ? opened.secret : null;
}

const port = parentPort;
if (port) {
  port.on('message', (job: WorkerJobWithId) => {
    let reply: WorkerReply;
    try {
      const result = run(job);
      reply = { id: job.id, bytes: result ? transferable(result) : null };
    } catch (err) {
      reply = { id: job.id, bytes: null, error: String(err) };
    }
    port.postMessage(reply, reply.bytes ? [reply.bytes.buffer as ArrayBuffer] : []);
  });
}
