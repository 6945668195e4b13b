/**
 * When a serving certificate is renewed: each replica issues a new one at 2/3 of the current one's life,
 * and swaps it into its running server.
 */
import type { ServingCertificate } from './x509.js';

/**
 * 2/3 of the way from `issuedAt` to `notAfter`. Measured from the issue, not from the backdated
 * `notBefore`, so that even a very short life renews in the future.
 */
export function renewalTime(issuedAt: Date, notAfter: Date): Date {
  const life = notAfter.getTime() - issuedAt.getTime();
  return new Date(issuedAt.getTime() + Math.floor((life * 2) / 3));
}

/** setTimeout's limit (2^31 - 1 ms, about 24.8 days); longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
export const ROTATION_RETRY_MS = 60_000;

export interface ServingCertificateRotationOptions {
  /** The certificate in use now. */
  readonly initial: ServingCertificate;
  /** Issues the next certificate (e.g. `issueServingCertificate` with the CA and names, at `now()`). */
  readonly issue: () => Promise<ServingCertificate>;
  readonly now: () => Date;
  /** Called with each new certificate; swap it into the server here. */
  readonly onRotated: (certificate: ServingCertificate) => void;
  /** Issuing failed; it is retried in a minute (the current certificate still has 1/3 of its life). */
  readonly onError: (error: unknown) => void;
}

/** Holds the current serving certificate and issues the next one at its renewal time, until stopped. */
export class ServingCertificateRotation {
  private certificate: ServingCertificate;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: ServingCertificateRotationOptions) {
    this.certificate = options.initial;
    this.scheduleRenewal();
  }

  get current(): ServingCertificate {
    return this.certificate;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private scheduleRenewal(): void {
    this.schedule(this.certificate.renewAt.getTime() - this.options.now().getTime());
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    const delay = Math.min(Math.max(delayMs, 0), MAX_TIMER_MS);
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    // A wait longer than a timer allows, or a clock that moved: not due yet.
    if (this.certificate.renewAt.getTime() > this.options.now().getTime()) {
      this.scheduleRenewal();
      return;
    }
    try {
      const next = await this.options.issue();
      if (this.stopped) return;
      this.certificate = next;
      this.options.onRotated(next);
      this.scheduleRenewal();
    } catch (error) {
      this.options.onError(error);
      this.schedule(ROTATION_RETRY_MS);
    }
  }
}
