import { createRequire } from 'node:module';
import uWS from 'uWebSockets.js';

export { uWS };

export interface UwsBuild {
  native: boolean;
  /** File name of the native binary, e.g. uws_linux_x64_115.node, or "fallback". */
  binary: string;
  packageVersion: string;
}

/**
 * Reports which uWebSockets.js build loaded. The package falls back to a
 * pure-JS implementation when its native binary does not load on this
 * platform. That fallback is far slower, so the gateway rejects it unless
 * KILLFEED_ALLOW_UWS_FALLBACK is set.
 */
export function detectUwsBuild(): UwsBuild {
  const require = createRequire(import.meta.url);
  const packageVersion = (require('uWebSockets.js/package.json') as { version: string }).version;
  const native = /\[native code\]/.test(Function.prototype.toString.call(uWS.App));
  const binary = native ? `uws_${process.platform}_${process.arch}_${process.versions.modules}.node` : 'fallback';
  return { native, binary, packageVersion };
}
