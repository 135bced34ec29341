/**
 * What the streaming server reaches on this node (upstream kubelet's
 * GetExec/GetAttach/GetPortForward): the pod by namespace and name from the
 * node's pod cache, its running container or sandbox from the runtime, and
 * upstream's answers when they are not there.
 */
import type { Duplex } from 'node:stream';
import type { Lister } from '../../client/informer.js';
import type { ExecRequest, Runtime, StreamSession } from '../runtime/runtime.js';
import type { RuntimeIndex } from './containers.js';
import type { ForwardTarget } from './portforward.js';

/** A request the kubelet refuses before any stream opens, with its HTTP code and text. */
export class StreamRequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'StreamRequestError';
  }
}

/** A running container, ready for exec or attach. */
export interface ContainerTarget {
  exec(req: ExecRequest): Promise<StreamSession>;
  attach(req: { stdin: boolean; tty: boolean }): Promise<StreamSession>;
  /** The container was started with a terminal (attach uses it whatever the client asked). */
  tty: boolean;
}

/** A pod's network, ready for port-forward. */
export interface PortForwardTarget extends ForwardTarget {
  dial(port: number): Promise<Duplex>;
}

/** Resolves streaming requests to this node's pods (see the module comment). */
export interface StreamingHost {
  container(namespace: string, pod: string, uid: string | undefined, container: string, op: 'exec' | 'attach'): ContainerTarget;
  portForward(namespace: string, pod: string, uid: string | undefined): PortForwardTarget;
}

/** The streaming host of a node agent: pods from its informer, containers from the runtime index. */
export class PodStreams implements StreamingHost {
  constructor(
    private readonly cfg: {
      pods: Lister<any>;
      index: RuntimeIndex;
      runtime: Runtime;
    },
  ) {}

  container(namespace: string, name: string, uid: string | undefined, container: string, op: 'exec' | 'attach'): ContainerTarget {
    const pod = this.pod(namespace, name);
    const fullName = `${name}_${namespace}`;
    const found = !uid || pod.metadata?.uid === uid ? this.cfg.index.container(pod.metadata?.uid, container) : undefined;
    if (!found) {
      // upstream findContainer looks among running containers only, with these two wordings.
      throw new StreamRequestError(500, op === 'exec' ? `container not found (${JSON.stringify(container)})` : `container ${container} not found in pod ${fullName}`);
    }
    const spec = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []), ...(pod.spec?.ephemeralContainers ?? [])].find((c: any) => c.name === container);
    const { runtime } = this.cfg;
    return {
      exec: (req) => runtime.exec(found.sandbox, found.container, req),
      attach: (req) => runtime.attach(found.container, req),
      tty: spec?.tty === true,
    };
  }

  portForward(namespace: string, name: string, uid: string | undefined): PortForwardTarget {
    const pod = this.pod(namespace, name);
    const sandbox = !uid || pod.metadata?.uid === uid ? this.cfg.index.sandbox(pod.metadata?.uid) : undefined;
    if (!sandbox) throw new StreamRequestError(500, `pod not found (${JSON.stringify(`${name}_${namespace}`)})`);
    // As the CRI streaming server reports it: the sandbox id stands for the pod, the uid is not known there.
    return { pod: sandbox.id, uid: '', dial: (port) => this.cfg.runtime.portForward(sandbox, port) };
  }

  private pod(namespace: string, name: string): any {
    const pod = this.cfg.pods.get(namespace, name);
    if (!pod) throw new StreamRequestError(404, 'pod does not exist');
    return pod;
  }
}
