// A small GraphQL-over-HTTP client: POST /graphql, first error becomes an ApiError with its extensions.code.

export class ApiError extends Error {
  constructor(message: string, readonly code: string, readonly extensions: Record<string, unknown> = {}) {
    super(message);
  }
}

type Fetch = typeof fetch;

let signedOut: (() => void) | null = null;

/** Called when the server answers UNAUTHENTICATED (no session, or it expired): the app shows the sign-in page. */
export function onUnauthenticated(fn: () => void): void {
  signedOut = fn;
}

export async function gql<T = any>(query: string, variables: Record<string, unknown> = {},
                                   fetcher: Fetch = fetch): Promise<T> {
  let response: Response;
  try {
    response = await fetcher('/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError('The server cannot be reached. Is it running?', 'UNAVAILABLE');
  }
  let body: any;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} without a GraphQL body.`, 'UNAVAILABLE');
  }
  if (body.errors?.length) {
    const e = body.errors[0];
    if (e.extensions?.code === 'UNAUTHENTICATED') signedOut?.();
    throw new ApiError(e.message, e.extensions?.code ?? 'UNKNOWN', e.extensions ?? {});
  }
  return body.data as T;
}
