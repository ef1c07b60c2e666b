import ipaddr from 'ipaddr.js';
import { AppError } from '../errors.js';

/**
 * `allowFrom`: a comma-separated list of addresses or CIDR ranges, rendered
 * canonically so that nothing but addresses ever reaches sshd's from="…".
 */
export function parseAllowFrom(value: unknown): string {
  if (typeof value !== 'string' || value.length > 1024) {
    throw new AppError('INVALID_CIDR', 'allowFrom must be a CIDR range such as 192.0.2.0/24 (comma-separated for several)');
  }
  const ranges = value.split(',').map((part) => part.trim());
  if (ranges.length === 0 || ranges.length > 32) throw new AppError('INVALID_CIDR', 'allowFrom takes 1 to 32 ranges');
  return ranges
    .map((range, index) => canonicalRange(range, ranges.length === 1 ? '' : ` (entry ${index + 1} of ${ranges.length})`))
    .join(',');
}

function canonicalRange(range: string, where: string): string {
  try {
    const address = range.split('/')[0] ?? '';
    // inet_aton's forms read differently to a person ("010.0.0.1" is 8.0.0.1, "127.1" is 127.0.0.1),
    // and sshd's from= knows no IPv6 zone ids: only dotted-decimal IPv4 and plain IPv6 are taken.
    if (address.includes('%') || (!address.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(address))) {
      throw new Error('not a plain address');
    }
    if (range.includes('/')) {
      const [address, prefixLength] = ipaddr.parseCIDR(range);
      // sshd sees an IPv4 client as IPv4, never as ::ffff:a.b.c.d: say the range the same way.
      if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && prefixLength >= 96) {
        const ipv4 = (address as ipaddr.IPv6).toIPv4Address();
        return `${networkAddress(ipv4, prefixLength - 96)}/${prefixLength - 96}`;
      }
      const network = networkAddress(address, prefixLength);
      return `${network}/${prefixLength}`;
    }
    if (!ipaddr.isValid(range)) throw new Error('not an address');
    return ipaddr.process(range).toString();
  } catch {
    const what = range === '' ? 'an empty entry' : `"${range.slice(0, 60)}"`;
    throw new AppError(
      'INVALID_CIDR',
      `${what}${where} is not an IP address or CIDR range: give addresses or ranges such as 192.0.2.0/24, comma-separated`,
    );
  }
}

function networkAddress(address: ipaddr.IPv4 | ipaddr.IPv6, prefixLength: number): string {
  if (address.kind() === 'ipv4') {
    return ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${prefixLength}`).toString();
  }
  return ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${prefixLength}`).toString();
}

/** Whether an address (as the HTTP server saw it) falls in an allowFrom list. */
export function isAddressAllowed(address: string, allowFrom: string): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(address);
  } catch {
    return false;
  }
  return allowFrom.split(',').some((range) => {
    const [network, prefixLength] = range.includes('/')
      ? ipaddr.parseCIDR(range)
      : [ipaddr.parse(range), ipaddr.parse(range).kind() === 'ipv4' ? 32 : 128];
    return parsed.kind() === network.kind() && parsed.match(network, prefixLength);
  });
}

/**
 * The key a client's requests are counted under by the rate limiters: an IPv4
 * address itself (also when written IPv4-mapped), an IPv6 address's /64 (one
 * machine usually holds a whole /64, and could otherwise count afresh from
 * each of its addresses).
 */
export function rateLimitKeyOf(address: string | null): string {
  if (address === null || !ipaddr.isValid(address)) return 'unknown';
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${parsed.toString()}/64`).toString()}/64`;
}
