// Demo device keys for `io-server -d auth/devices.mjs`: rows of [id, key, cid, level].
// These keys are public: replace every one before serving real devices (see auth/README.md).
export const authInfo = [
  ['dev1', 'secret-key', 'D1', 3],
  ['esp32a', 'change-me-32', 'E1', 2],
  ['uno', 'uno-demo-key', 'UNO', 1],
  ['admin', 'admin-key', 'ADMIN', 255],
];
