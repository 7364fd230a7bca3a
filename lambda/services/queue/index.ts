export * from './builtin-jobs';
export * from './drain';
export * from './maintenance';
export * from './queue';
export * from './registry';
