// The k6 runtime provides console, but @types/k6 2.x does not declare it.
declare var console: {
  log(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
};
