/**
 * What differs between the four Kubeflow training kinds, after the training
 * operator's per-framework controllers (pkg/controller.v1/{pytorch,
 * tensorflow,paddlepaddle,xgboost}, v1.9): their defaults, which replica
 * leads the job, the environment each pod gets so the framework finds its
 * peers, and the rules that turn replica counts into job conditions. The
 * generic reconciler (controller.ts) does everything else the same way for
 * every kind.
 */
import {
  TRAINING_KINDS,
  replicaSpecsOf,
  type ElasticPolicy,
  type PyTorchJobSpec,
  type ReplicaSpec,
  type ReplicaStatus,
  type TFJobSpec,
  type TrainingJob,
  type TrainingKind,
  type TrainingKindInfo,
  type TrainingRestartPolicy,
} from '../../api/kubeflow.js';
import type { Container, EnvVar, PodSpec } from '../../api/generated/types.js';

/** upstream <Kind>DefaultRestartPolicy: PyTorch and Paddle restart on failure, TF and XGBoost never. */
export const DEFAULT_RESTART_POLICY: Readonly<Record<TrainingKind, TrainingRestartPolicy>> = {
  PyTorchJob: 'OnFailure',
  TFJob: 'Never',
  PaddleJob: 'OnFailure',
  XGBoostJob: 'Never',
};

/** upstream EnvCustomClusterDomain: appended to TF_CONFIG addresses when the operator's environment sets it. */
export const CUSTOM_CLUSTER_DOMAIN_ENV = 'CUSTOM_CLUSTER_DOMAIN';

/** upstream GenGeneralName: `<job>-<replica type, lower-cased>-<index>`, the name of a replica's pod and Service. */
export function replicaName(jobName: string, rtype: string, index: number | string): string {
  return `${jobName}-${rtype.toLowerCase()}-${index}`.replace(/\//g, '-');
}

/**
 * A job with upstream's defaults filled in (SetDefaults_<Kind>), as a copy:
 * replica-type keys in the operator's capitalisation, replicas 1, the kind's
 * restart policy, the default port on the default container, cleanPodPolicy
 * None, TF's successPolicy "", PyTorch's elastic min/max and nprocPerNode.
 * The controller works on this copy; the stored spec is left as written.
 */
export function withDefaults<J extends TrainingJob>(kind: TrainingKind, job: J): J {
  const info = TRAINING_KINDS[kind];
  const out = structuredClone(job) as J & { spec: Record<string, any> };
  out.spec ??= {};
  out.spec.runPolicy ??= {};
  out.spec.runPolicy.cleanPodPolicy ??= 'None';
  const specs: Record<string, ReplicaSpec> = out.spec[info.replicaSpecsField] ?? {};
  // upstream setTypeNameToCamelCase: `worker` or `WORKER` mean Worker.
  for (const key of Object.keys(specs)) {
    const canonical = info.replicaTypes.find((t) => t.toLowerCase() === key.toLowerCase());
    if (canonical && canonical !== key && !(canonical in specs)) {
      specs[canonical] = specs[key]!;
      delete specs[key];
    }
  }
  for (const spec of Object.values(specs)) {
    if (!spec) continue;
    spec.replicas ??= 1;
    spec.restartPolicy ||= DEFAULT_RESTART_POLICY[kind];
    spec.template ??= {};
    spec.template.spec ??= { containers: [] };
    const containers = (spec.template.spec.containers ??= []);
    if (containers.length) {
      const i = Math.max(0, containers.findIndex((c) => c.name === info.defaultContainerName));
      const c = containers[i]!;
      if (!(c.ports ?? []).some((p) => p.name === info.defaultPortName)) c.ports = [...(c.ports ?? []), { name: info.defaultPortName, containerPort: info.defaultPort }];
    }
  }
  out.spec[info.replicaSpecsField] = specs;
  if (kind === 'TFJob') (out.spec as TFJobSpec).successPolicy ??= '';
  if (kind === 'PyTorchJob' || kind === 'PaddleJob') {
    const ep = out.spec.elasticPolicy as ElasticPolicy | undefined;
    if (ep) {
      // upstream setElasticPolicy: a missing bound takes the other, both missing take the Worker count.
      ep.minReplicas ??= ep.maxReplicas ?? specs.Worker?.replicas;
      ep.maxReplicas ??= ep.minReplicas;
    }
  }
  if (kind === 'PyTorchJob') {
    const spec = out.spec as PyTorchJobSpec;
    // upstream setDefaultNprocPerNode: "auto" unless the elastic policy says how many.
    if (!spec.elasticPolicy || spec.elasticPolicy.nProcPerNode === undefined) spec.nprocPerNode ??= 'auto';
  }
  return out;
}

/** The sum of every replica type's replicas (upstream getTotalReplicas). */
export function totalReplicas(specs: Readonly<Record<string, ReplicaSpec>>): number {
  let n = 0;
  for (const s of Object.values(specs)) n += s?.replicas ?? 0;
  return n;
}

/** The port named `portName` of the container named `containerName` in a replica's template, or `fallback`. */
function portOf(spec: ReplicaSpec | undefined, info: TrainingKindInfo): number {
  const c = spec?.template?.spec?.containers?.find((x) => x.name === info.defaultContainerName);
  const p = c?.ports?.find((x) => x.name === info.defaultPortName);
  return p?.containerPort ?? info.defaultPort;
}

/** Where the operator puts a framework's variables: every container, or only the default one (TF). */
function targetContainers(spec: PodSpec, info: TrainingKindInfo, onlyDefault: boolean): Container[] {
  const all = spec.containers ?? [];
  return onlyDefault ? all.filter((c) => c.name === info.defaultContainerName) : all;
}

function env(name: string, value: string): EnvVar {
  return { name, value };
}

/**
 * upstream pytorch setPodEnv (+ master.go, elastic.go): PYTHONUNBUFFERED;
 * with a Master, MASTER_ADDR/PORT and their PET_ twins, WORLD_SIZE (replicas
 * × processes per node), RANK and PET_NODE_RANK (workers count after the
 * master); PET_NPROC_PER_NODE; PET_NNODES, or with an elasticPolicy the
 * rendezvous variables PET_RDZV_ENDPOINT/BACKEND, PET_NNODES as `min:max`,
 * PET_MAX_RESTARTS, PET_RDZV_ID, PET_RDZV_CONF and PET_STANDALONE.
 */
function pytorchEnv(job: TrainingJob, rtype: string, index: number): EnvVar[] {
  const info = TRAINING_KINDS.PyTorchJob;
  const spec = (job.spec ?? {}) as PyTorchJobSpec;
  const specs = replicaSpecsOf('PyTorchJob', job);
  const name = job.metadata?.name ?? '';
  const total = totalReplicas(specs);
  const nproc = Number.parseInt(spec.nprocPerNode ?? '', 10);
  const out: EnvVar[] = [env('PYTHONUNBUFFERED', '1')];
  if (specs.Master) {
    const port = String(portOf(specs.Master, info));
    const addr = replicaName(name, 'Master', 0);
    out.push(env('MASTER_PORT', port), env('PET_MASTER_PORT', port), env('MASTER_ADDR', addr), env('PET_MASTER_ADDR', addr));
    const rank = rtype === 'Worker' ? index + 1 : index;
    out.push(env('WORLD_SIZE', String(total * (Number.isNaN(nproc) ? 1 : nproc))), env('RANK', String(rank)), env('PET_NODE_RANK', String(rank)));
  }
  if (spec.nprocPerNode !== undefined) out.push(env('PET_NPROC_PER_NODE', spec.nprocPerNode));
  const ep = spec.elasticPolicy;
  if (!ep) {
    out.push(env('PET_NNODES', String(total)));
    return out;
  }
  const host = ep.rdzvHost ?? replicaName(name, 'Worker', 0);
  out.push(env('PET_RDZV_ENDPOINT', `${host}:${ep.rdzvPort ?? portOf(specs.Worker, info)}`));
  out.push(env('PET_RDZV_BACKEND', ep.rdzvBackend ?? 'c10d'));
  out.push(env('PET_NNODES', ep.minReplicas === undefined && ep.maxReplicas === undefined ? String(specs.Worker?.replicas ?? 1) : `${ep.minReplicas}:${ep.maxReplicas}`));
  if (ep.maxRestarts !== undefined) out.push(env('PET_MAX_RESTARTS', String(ep.maxRestarts)));
  if (ep.nProcPerNode !== undefined) out.push(env('PET_NPROC_PER_NODE', String(ep.nProcPerNode)));
  if (ep.rdzvId !== undefined) out.push(env('PET_RDZV_ID', ep.rdzvId));
  if (ep.rdzvConf?.length) out.push(env('PET_RDZV_CONF', ep.rdzvConf.map((c) => `${c.key ?? ''}=${c.value ?? ''}`).join(',')));
  if (ep.standalone) out.push(env('PET_STANDALONE', ''));
  return out;
}

/**
 * upstream genTFConfigJSONStr: TF_CONFIG = {cluster: {<type>: [<svc>.<ns>.svc:<port>…]},
 * task: {type, index}, environment: "cloud"}; with enableDynamicWorker the
 * sparse form (this worker and every PS only). Not set for a single-replica
 * job (upstream isDistributed).
 */
export function tfConfig(job: TrainingJob, rtype: string, index: number, clusterDomain = process.env[CUSTOM_CLUSTER_DOMAIN_ENV] ?? ''): string | undefined {
  const info = TRAINING_KINDS.TFJob;
  const specs = replicaSpecsOf('TFJob', job);
  if (totalReplicas(specs) === 1) return undefined;
  const name = job.metadata?.name ?? '';
  const ns = job.metadata?.namespace ?? '';
  const cluster: Record<string, string[]> = {};
  for (const t of info.replicaTypes) {
    const spec = specs[t];
    if (!spec) continue;
    const port = portOf(spec, info);
    cluster[t.toLowerCase()] = Array.from({ length: spec.replicas ?? 1 }, (_, i) => `${replicaName(name, t, i)}.${ns}.svc${clusterDomain ? `.${clusterDomain}` : ''}:${port}`);
  }
  const task = { type: rtype.toLowerCase(), index };
  if ((job.spec as TFJobSpec).enableDynamicWorker) {
    const sparse: { worker: Record<string, string>; ps: string[] } = { worker: {}, ps: [] };
    if (task.type === 'ps') sparse.ps.push(cluster.ps?.[index] ?? '');
    else if (task.type === 'worker') {
      sparse.ps = cluster.ps ?? [];
      sparse.worker[String(index)] = cluster.worker?.[index] ?? '';
    }
    return JSON.stringify({ cluster: sparse, task });
  }
  return JSON.stringify({ cluster, task, environment: 'cloud' });
}

/**
 * upstream paddle setPodEnv: PYTHONUNBUFFERED, PADDLE_JOB_ID, PADDLE_NNODES
 * and PADDLE_MASTER — the rendezvous replica (Master 0, or Worker 0 in
 * collective mode) advertises its own IP through the POD_IP_DUMMY fieldRef,
 * the others its Service name; in PS mode one PADDLE_SERVER_NUM or
 * PADDLE_TRAINER_NUM per pod.
 */
function paddleEnv(job: TrainingJob, rtype: string, index: number): EnvVar[] {
  const info = TRAINING_KINDS.PaddleJob;
  const specs = replicaSpecsOf('PaddleJob', job);
  const name = job.metadata?.name ?? '';
  const out: EnvVar[] = [env('PYTHONUNBUFFERED', '1'), env('PADDLE_JOB_ID', name), env('PADDLE_NNODES', String(totalReplicas(specs)))];
  const leader = specs.Master ? 'Master' : 'Worker';
  const port = portOf(specs[leader], info);
  if (index === 0 && rtype === leader) {
    out.push({ name: 'POD_IP_DUMMY', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }, env('PADDLE_MASTER', `$(POD_IP_DUMMY):${port}`));
  } else {
    out.push(env('PADDLE_MASTER', `${replicaName(name, leader, 0)}:${port}`));
  }
  if (specs.Master) out.push(rtype === 'Master' ? env('PADDLE_SERVER_NUM', '1') : env('PADDLE_TRAINER_NUM', '1'));
  return out;
}

/**
 * upstream xgboost SetPodEnv: MASTER_ADDR/PORT of Master 0, WORLD_SIZE,
 * RANK (workers count after the masters), PYTHONUNBUFFERED, and for more
 * than one replica WORKER_PORT and WORKER_ADDRS (the first total-1 worker
 * Service names, for LightGBM).
 */
function xgboostEnv(job: TrainingJob, rtype: string, index: number): EnvVar[] {
  const info = TRAINING_KINDS.XGBoostJob;
  const specs = replicaSpecsOf('XGBoostJob', job);
  const name = job.metadata?.name ?? '';
  const total = totalReplicas(specs);
  const rank = rtype === 'Worker' ? index + (specs.Master?.replicas ?? 0) : index;
  const out: EnvVar[] = [
    env('MASTER_PORT', String(portOf(specs.Master, info))),
    env('MASTER_ADDR', replicaName(name, 'Master', 0)),
    env('WORLD_SIZE', String(total)),
    env('RANK', String(rank)),
    env('PYTHONUNBUFFERED', '1'),
  ];
  if (total > 1) {
    out.push(env('WORKER_PORT', String(portOf(specs.Worker, info))));
    out.push(env('WORKER_ADDRS', Array.from({ length: total - 1 }, (_, i) => replicaName(name, 'Worker', i)).join(',')));
  }
  return out;
}

/** The variables a replica's pod gets, and whether they go to every container or only the default one. */
export function clusterEnv(kind: TrainingKind, job: TrainingJob, rtype: string, index: number): { env: EnvVar[]; onlyDefault: boolean } {
  switch (kind) {
    case 'PyTorchJob':
      return { env: pytorchEnv(job, rtype, index), onlyDefault: false };
    case 'TFJob': {
      const cfg = tfConfig(job, rtype, index);
      return { env: cfg === undefined ? [] : [env('TF_CONFIG', cfg)], onlyDefault: true };
    }
    case 'PaddleJob':
      return { env: paddleEnv(job, rtype, index), onlyDefault: false };
    case 'XGBoostJob':
      return { env: xgboostEnv(job, rtype, index), onlyDefault: false };
  }
}

/**
 * upstream SetClusterSpec: adds the kind's variables to the pod spec (after
 * the template's own, as upstream appends them). Returns the spec changed in
 * place.
 */
export function setClusterSpec(kind: TrainingKind, job: TrainingJob, spec: PodSpec, rtype: string, index: number): PodSpec {
  const { env: vars, onlyDefault } = clusterEnv(kind, job, rtype, index);
  if (!vars.length) return spec;
  for (const c of targetContainers(spec, TRAINING_KINDS[kind], onlyDefault)) c.env = [...(c.env ?? []), ...vars.map((v) => ({ ...v }))];
  return spec;
}

/**
 * upstream IsMasterRole: the replica that gets `job-role: master` — PyTorch's
 * Master (Worker 0 without one), TF's Chief or Master (Worker 0 without
 * either), Paddle's and XGBoost's Master.
 */
export function isMasterRole(kind: TrainingKind, specs: Readonly<Record<string, ReplicaSpec>>, rtype: string, index: number): boolean {
  switch (kind) {
    case 'PyTorchJob':
      return specs.Master ? rtype === 'Master' : rtype === 'Worker' && index === 0;
    case 'TFJob':
      return specs.Chief || specs.Master ? rtype === 'Chief' || rtype === 'Master' : rtype === 'Worker' && index === 0;
    default:
      return rtype === 'Master';
  }
}

/**
 * The replica whose Service the others rendezvous at, if the kind has one
 * the others must wait for: PyTorch's Master 0 (upstream gives its Workers
 * the `init-pytorch` container for this; Kite's node agent holds them). Paddle's launcher and XGBoost's
 * tracker clients retry by themselves; TF's servers do not need the chief first.
 */
export function rendezvousLeader(kind: TrainingKind, specs: Readonly<Record<string, ReplicaSpec>>): string | undefined {
  return kind === 'PyTorchJob' && specs.Master ? 'Master' : undefined;
}

/** A condition change the status rules ask for (upstream UpdateJobConditions calls), with the event upstream records alongside. */
export interface StatusChange {
  type: 'Running' | 'Restarting' | 'Succeeded' | 'Failed';
  reason: string;
  message: string;
  /** The event recorded with it, if any. */
  event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
  /** Set completionTime if unset. */
  complete?: boolean;
}

/** The facts the status rules look at. */
export interface StatusInput {
  kind: TrainingKind;
  job: TrainingJob;
  specs: Readonly<Record<string, ReplicaSpec>>;
  replicaStatuses: Readonly<Record<string, ReplicaStatus>>;
  /** TF: Worker 0 exited successfully (upstream IsWorker0Completed). */
  worker0Completed: boolean;
  /** TF: the job already has a Restarting condition (upstream keeps it across failures). */
  restarting?: { reason?: string; message?: string };
}

/**
 * The condition changes of upstream's per-kind UpdateJobStatus, in the order
 * upstream makes them: replica types are visited in the kind's order (upstream
 * iterates a Go map for PyTorch, Paddle and XGBoost; a fixed order makes
 * the outcome deterministic).
 */
export function statusChanges(input: StatusInput): StatusChange[] {
  const { kind, job, specs } = input;
  const name = job.metadata?.name ?? '';
  const ns = job.metadata?.namespace ?? '';
  const out: StatusChange[] = [];
  const reason = (r: string) => `${kind}${r}`;
  const succeeded = (message: string): StatusChange => ({ type: 'Succeeded', reason: reason('Succeeded'), message, complete: true, event: { type: 'Normal', reason: reason('Succeeded'), message } });
  const failed = (message: string): StatusChange => ({ type: 'Failed', reason: reason('Failed'), message, complete: true, event: { type: 'Normal', reason: reason('Failed'), message } });
  const restarting = (message: string): StatusChange => ({ type: 'Restarting', reason: reason('Restarting'), message, event: { type: 'Warning', reason: reason('Restarting'), message } });
  const running = (message: string): StatusChange => ({ type: 'Running', reason: reason('Running'), message });
  for (const rtype of TRAINING_KINDS[kind].replicaTypes) {
    const spec = specs[rtype];
    if (!spec) continue;
    const st = input.replicaStatuses[rtype] ?? {};
    const want = spec.replicas ?? 1;
    const done = st.succeeded ?? 0;
    const active = st.active ?? 0;
    const nfailed = st.failed ?? 0;
    const expected = want - done;
    switch (kind) {
      case 'PyTorchJob':
      case 'PaddleJob': {
        if (specs.Master) {
          if (rtype === 'Master') {
            if (active > 0) out.push(running(`${kind} ${name} is running.`));
            // upstream: the Master's success is the job's, and nothing else is looked at.
            if (expected === 0) return [...out, succeeded(`${kind} ${name} is successfully completed.`)];
          }
        } else if (rtype === 'Worker') {
          const elasticDone = kind === 'PyTorchJob' && !!(job.spec as PyTorchJobSpec).elasticPolicy && done > 0;
          if (expected === 0 || elasticDone) out.push(succeeded(`${kind} ${ns}/${name} successfully completed.`));
          else if (active > 0) out.push(running(`${kind} ${ns}/${name} is running.`));
        }
        if (nfailed > 0 && want > done + active) {
          if (spec.restartPolicy !== 'Never') out.push(restarting(`${kind} ${name} is restarting because ${nfailed} ${rtype} replica(s) failed.`));
          else out.push(failed(`${kind} ${name} is failed because ${nfailed} ${rtype} replica(s) failed.`));
        }
        break;
      }
      case 'TFJob': {
        const leader = !!(specs.Chief || specs.Master);
        if (leader) {
          if (rtype === 'Chief' || rtype === 'Master') {
            if (active > 0) out.push(running(`TFJob ${ns}/${name} is running.`));
            if (expected === 0) out.push(succeeded(`TFJob ${ns}/${name} successfully completed.`));
          }
        } else if (rtype === 'Worker') {
          const allWorkers = (job.spec as TFJobSpec).successPolicy === 'AllWorkers';
          if (expected === 0 || (input.worker0Completed && !allWorkers)) out.push(succeeded(`TFJob ${ns}/${name} successfully completed.`));
          else if (active > 0) out.push(running(`TFJob ${ns}/${name} is running.`));
        }
        if (nfailed > 0) {
          if (input.restarting) out.push({ type: 'Restarting', reason: input.restarting.reason ?? reason('Restarting'), message: input.restarting.message ?? '' });
          else if (!((job.spec as TFJobSpec).enableDynamicWorker && rtype === 'Worker')) out.push(failed(`TFJob ${ns}/${name} has failed because ${nfailed} ${rtype} replica(s) failed.`));
        }
        break;
      }
      case 'XGBoostJob': {
        const msg = `XGBoostJob ${name} is running.`;
        if (rtype === 'Master') {
          if (active > 0) out.push(running(msg));
          if (expected === 0) return [...out, running(msg), succeeded(`XGBoostJob ${name} is successfully completed.`)];
        }
        if (nfailed > 0) {
          out.push(running(msg));
          if (spec.restartPolicy === 'ExitCode') out.push(restarting(`XGBoostJob ${name} is restarting because ${nfailed} ${rtype} replica(s) failed.`));
          else out.push(failed(`XGBoostJob ${name} is failed because ${nfailed} ${rtype} replica(s) failed.`));
        }
        break;
      }
    }
  }
  return out;
}

/** upstream IsRetryableExitCode: exit codes from 128 up (killed by a signal) are retried under ExitCode. */
export function isRetryableExitCode(code: number): boolean {
  return code >= 128;
}
