export * from './builtin-jobs';
export * from './drain';
export * from './queue';
export * from './registry';
