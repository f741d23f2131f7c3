import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { exitCodeOf, formatReport } from '../doctor/checks';
import { parseBaseUrl, runDoctor } from '../doctor/doctor';
import { LazyCommand, requireString, UsageError } from './command';

/** The PEM certificates of a --ca file, each checked to be one. */
function readCaFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--ca ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new UsageError(`--ca ${file}: no PEM certificate in it`);
  for (const pem of pems) {
    try {
      new X509Certificate(pem);
    } catch {
      throw new UsageError(`--ca ${file}: holds something that is not a certificate`);
    }
  }
  return pems;
}

const alexaDoctor: LazyCommand = {
  name: 'alexa:doctor',
  summary: 'Check, from here, everything Alexa needs of this deployment (DNS, 443, TLS 1.2, full chain, metadata, authorization and token URIs, the client) and say what to fix',
  usage: 'alexa:doctor --base-url https://HOST [--vendor-id V] [--ca ROOTS.pem] [--json]',
  options: { 'base-url': { type: 'string' }, 'vendor-id': { type: 'string' }, ca: { type: 'string' } },
  lazy: true,
  async run(ctx, { values }) {
    const baseUrl = requireString(values, 'base-url');
    const parsed = parseBaseUrl(baseUrl);
    if (typeof parsed === 'string') throw new UsageError(`--base-url ${parsed}`);
    const vendorId = typeof values['vendor-id'] === 'string' ? values['vendor-id'].trim() : undefined;
    if (vendorId !== undefined && !/^[A-Za-z0-9]{4,64}$/.test(vendorId)) throw new UsageError('--vendor-id must be the letters and digits of your Amazon vendor ID (the end of the Alexa Redirect URLs)');
    // --ca replaces Node's bundled roots: for tests with their own CA, or a check against one store.
    const ca = typeof values.ca === 'string' ? readCaFile(values.ca) : undefined;

    const checks = await runDoctor({
      baseUrl,
      ca,
      vendorId,
      findAlexaClient: async (v) => {
        const { services, config } = await ctx.open();
        return { client: await services.clients.findByAlexaVendorId(v), defaults: config.tokens };
      },
    });
    ctx.out(formatReport(checks), { checks });
    return exitCodeOf(checks);
  },
};

export const doctorCommands = [alexaDoctor];
