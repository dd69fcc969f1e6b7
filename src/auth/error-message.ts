// One-line text for any thrown value; connection failures to several addresses arrive as an AggregateError with no message.
export function messageOf(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') {
    return err.errors.map(messageOf).join(', ') || 'AggregateError';
  }
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
