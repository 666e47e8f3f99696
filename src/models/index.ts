/**
 * Model zoo: the course's architectures with torchvision's constructors and `state_dict()`
 * names (vision), dense prediction and generative models, sequence models, and the tools that
 * count parameters and load torchvision checkpoints.
 * @module
 */
export * from './vision.js';
export * from './dense.js';
export * from './sequence.js';
export * from './statedict.js';
export * from './transformers.js';
