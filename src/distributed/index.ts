/**
 * `distributed`: devices, the job's processes and `pmap` (collectives are in `lax`).
 * @module
 */
export {
  type Device,
  type PmapOptions,
  allReduce,
  barrier,
  broadcast,
  devices,
  initialize,
  localDeviceCount,
  localDevices,
  pmap,
  processCount,
  processIndex,
  shutdown,
} from './pmap.js';
