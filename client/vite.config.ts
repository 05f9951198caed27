import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

const api = 'http://127.0.0.1:8000';

// Vitest 5's reporter calls Map.groupBy (Node 21+) when printing failures; this machine has Node 20.
const mapWithGroupBy = Map as unknown as { groupBy?: (items: Iterable<unknown>, key: (v: unknown) => unknown) => Map<unknown, unknown[]> };
mapWithGroupBy.groupBy ??= (items, key) => {
  const out = new Map<unknown, unknown[]>();
  for (const item of items) {
    const k = key(item);
    out.set(k, [...(out.get(k) ?? []), item]);
  }
  return out;
};

export default defineConfig({
  plugins: [svelte()],
  base: '/',
  server: {
    proxy: {
      '/graphql': { target: api, ws: true },
      '/media': api,
      '/health': api,
    },
  },
  resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
  test: { environment: 'node', include: ['src/**/*.test.ts'] },
});
