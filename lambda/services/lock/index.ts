export { LockLostError } from './errors';
export * from './lock';
