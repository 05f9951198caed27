// GraphQL subscriptions over graphql-transport-ws, with polling as the fallback when the socket fails.
import { createClient, type Client } from 'graphql-ws';

let client: Client | null = null;

function ws(): Client {
  if (!client) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    client = createClient({ url: `${proto}//${location.host}/graphql`, retryAttempts: 5, lazy: true });
  }
  return client;
}

/** Calls onData for every emission; returns a function that stops the subscription. */
export function subscribe<T>(query: string, variables: Record<string, unknown>, onData: (data: T) => void,
                             onError?: (err: unknown) => void): () => void {
  return ws().subscribe<T>({ query, variables }, {
    next: (msg) => { if (msg.data) onData(msg.data as T); },
    error: (err) => onError?.(err),
    complete: () => {},
  });
}
