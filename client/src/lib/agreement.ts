// A project's agreement as the dashboard shows it: the labeller x labeller matrix from the API's pairs.

export interface Agreement {
  images: number; score: number | null; alpha: number | null; waiting: number;
  perLabeller: { user: string; vsOthers: number | null; vsConsensus: number | null; pairs: number }[];
  matrix: { a: string; b: string; score: number; images: number }[];
  overTime: { day: string; score: number }[];
}

/** The labellers in name order, and the pair of any two (the API lists each pair once, a < b). */
export function matrixOf(agreement: Agreement) {
  const users = [...new Set(agreement.matrix.flatMap((m) => [m.a, m.b]))].sort();
  const byPair = new Map(agreement.matrix.map((m) => [`${m.a}\u001f${m.b}`, m]));
  return {
    users,
    cell: (a: string, b: string) => byPair.get(a < b ? `${a}\u001f${b}` : `${b}\u001f${a}`),
  };
}
