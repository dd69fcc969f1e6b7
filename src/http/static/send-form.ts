// The send form: a signal to a channel, one CID or every device, through POST /api/signal (browser code).
import type { ErrorBody, SendPayloadKind, SendRequest, SendResponse, SendTarget } from '../dashboard-types.js';
import { byId } from './dom.js';

export class SendForm {
  private readonly form = byId('send-form', HTMLFormElement);
  private readonly target = byId('send-target', HTMLSelectElement);
  private readonly tag = byId('send-tag', HTMLInputElement);
  private readonly tagLabel = byId('send-tag-label', HTMLLabelElement);
  private readonly cid = byId('send-cid', HTMLInputElement);
  private readonly topic = byId('send-topic', HTMLInputElement);
  private readonly kind = byId('send-kind', HTMLSelectElement);
  private readonly payload = byId('send-payload', HTMLInputElement);
  private readonly button = byId('send-button', HTMLButtonElement);
  private readonly result = byId('send-result', HTMLOutputElement);

  constructor(private readonly token: () => string) {
    this.target.addEventListener('change', () => this.showFields());
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send();
    });
    this.showFields();
  }

  /** Sending needs the admin token; say so instead of offering a button that always fails. */
  enable(allowed: boolean, why: string): void {
    this.button.disabled = !allowed;
    if (!allowed) this.result.textContent = why;
    else if (this.result.textContent === why) this.result.textContent = '';
  }

  /** A click on a device: address it by CID (a serial port takes commands on its `cmd` topic). */
  address(cid: string, kind: string): void {
    if (!cid) return;
    this.target.value = 'cid';
    this.cid.value = cid;
    this.topic.value = kind === 'serial' ? 'cmd' : 'dashboard';
    this.showFields();
    this.payload.focus();
  }

  private showFields(): void {
    const target = this.target.value as SendTarget;
    this.tagLabel.hidden = target === 'cid';
    this.tagLabel.firstChild!.textContent = target === 'everyone' ? 'tag ' : 'channel ';
    byId('send-cid-label', HTMLLabelElement).hidden = target !== 'cid';
    byId('send-topic-label', HTMLLabelElement).hidden = target !== 'cid';
  }

  private async send(): Promise<void> {
    const request: SendRequest = {
      target: this.target.value as SendTarget,
      tag: this.tag.value,
      cid: this.cid.value,
      topic: this.topic.value,
      payloadKind: this.kind.value as SendPayloadKind,
      payload: this.payload.value,
    };
    this.result.textContent = 'sending…';
    try {
      const response = await fetch('/api/signal', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.token()}` },
        body: JSON.stringify(request),
      });
      const body = (await response.json()) as SendResponse | ErrorBody;
      this.result.textContent = 'error' in body ? `refused: ${body.error}` : `sent to ${body.receivers} receiver(s)`;
    } catch (err) {
      this.result.textContent = `failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
}
