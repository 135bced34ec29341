/**
 * Which sandbox and which running containers a pod has on this node, for
 * the streaming server. Upstream kubelet asks the runtime for its running
 * pods (GetPods) on every exec/attach/port-forward; here the runtime the pod
 * workers use is wrapped, and every sandbox and container it creates is
 * remembered until it is removed or exits.
 */
import type { RunningContainer, Runtime, Sandbox } from '../runtime/runtime.js';

/** A running container of a pod, with its sandbox. */
export interface PodContainer {
  sandbox: Sandbox;
  container: RunningContainer;
}

/** The index of sandboxes and running containers (see the module comment). */
export class RuntimeIndex {
  private readonly sandboxes = new Map<string, Sandbox>();
  /** `<podUid>/<container name>` → the container running now. */
  private readonly running = new Map<string, PodContainer>();

  /** The runtime to hand to the pod workers: the same runtime, with creations recorded here. */
  wrap(runtime: Runtime): Runtime {
    const index = this;
    const owners = new Map<string, string>();
    const overrides: Partial<Runtime> = {
      async createSandbox(cfg) {
        const sb = await runtime.createSandbox(cfg);
        index.sandboxes.set(cfg.podUid, sb);
        owners.set(sb.id, cfg.podUid);
        return sb;
      },
      async removeSandbox(sb) {
        const uid = owners.get(sb.id);
        if (uid !== undefined && index.sandboxes.get(uid)?.id === sb.id) index.sandboxes.delete(uid);
        owners.delete(sb.id);
        return runtime.removeSandbox(sb);
      },
      async startContainer(sb, cfg) {
        const c = await runtime.startContainer(sb, cfg);
        const key = `${cfg.podUid}/${cfg.name}`;
        const entry = { sandbox: sb, container: c };
        index.running.set(key, entry);
        const forget = () => {
          if (index.running.get(key) === entry) index.running.delete(key);
        };
        c.exited.then(forget, forget);
        return c;
      },
    };
    // Everything else goes to the runtime itself (bound, so its own state stays its own).
    return new Proxy(runtime, {
      get(target, prop) {
        if (Object.prototype.hasOwnProperty.call(overrides, prop)) return overrides[prop as keyof Runtime];
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** The running container `name` of the pod with this uid, if it runs. */
  container(podUid: string, name: string): PodContainer | undefined {
    return this.running.get(`${podUid}/${name}`);
  }

  /** The pod's sandbox, while it exists. */
  sandbox(podUid: string): Sandbox | undefined {
    return this.sandboxes.get(podUid);
  }
}
