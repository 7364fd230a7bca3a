// Placeholder entry so the CDK stacks can bundle it; replaced by the real handler.
export const handler = async (): Promise<{ statusCode: number; body: string }> => ({
  statusCode: 503,
  body: JSON.stringify({ error: { code: 'NOT_READY', message: 'handler not built yet' } }),
});
