// Attached services and the CALL procedure of docs/protocol.md §7.1, with the Q12 fix.
import { STATUS } from '../protocol/codes.js';
import type { CallRequest } from '../protocol/rpc.js';
import type { Caller, Service, ServiceHost, ServiceReply } from './service.js';

export class ServiceRegistry {
  private readonly services = new Map<string, Service>();

  attach(service: Service): void {
    this.services.set(service.name, service);
  }

  names(): string[] {
    return [...this.services.keys()];
  }

  /** Runs one call; never throws (a failing service is answered INTERNAL_SERVER_ERROR and logged). */
  async call(caller: Caller, req: CallRequest, host: ServiceHost): Promise<ServiceReply> {
    const service = this.services.get(req.target);
    if (!service) return { status: STATUS.ERROR, body: 'UNKNOWN_SERVICE' };
    try {
      if (!service.checkPermission(caller, req)) return { status: STATUS.ERROR, body: 'NO_PERMISSION.' };
      if (!service.commands.includes(req.topic)) return { status: STATUS.ERROR, body: 'UNKNOWN_COMMAND' };
      const reply = await service.call(caller, req, host);
      if (typeof reply !== 'object' || reply === null || !Number.isInteger(reply.status)) {
        throw new TypeError(`reply must be { status, body? }, got ${String(reply)}`);
      }
      return reply;
    } catch (err) {
      host.log(`service ${req.target}.${req.topic} failed for #${caller.ssid}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      return { status: STATUS.ERROR, body: 'INTERNAL_SERVER_ERROR' };
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.services.values()].map((service) => service.close?.()));
  }
}
