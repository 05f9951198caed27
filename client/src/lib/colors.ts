// Ten distinct colours; a class keeps the colour of its position in the project's class list.
export const PALETTE = ['#ff6b5b', '#4fb3ff', '#ffd24a', '#5fd38d', '#c18cff',
                        '#ff9f43', '#2ee6d6', '#ff7ac6', '#a3e048', '#8fa3ff'];

export function classColor(index: number): string {
  return PALETTE[((index % PALETTE.length) + PALETTE.length) % PALETTE.length];
}
