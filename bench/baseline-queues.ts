/** The bare baselines' queues (bench/baseline-server.ts; a module of its own: that process loads nothing of the service). */
export const B4_QUEUE = 'bench-b4';
export const B5_QUEUE = 'bench-b5';
