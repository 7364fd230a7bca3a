export * from './builtin-jobs';
export * from './drain';
export * from './job-types';
export * from './maintenance';
export * from './queue';
export * from './registry';
