/**
 * The part of `node:async_hooks` the meter uses. Workers provide it under `nodejs_compat`;
 * declared here because @types/node cannot be mixed with the Workers types.
 */
declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    getStore(): T | undefined;
    run<R>(store: T, callback: () => R): R;
  }
}
