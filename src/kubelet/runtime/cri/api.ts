/**
 * The wire definitions Kite speaks to containerd: the part of the CRI v1 API
 * (package `runtime.v1`, services RuntimeService and ImageService) and of
 * containerd's events service that the `cri` runtime uses. Package, service,
 * message and field names and field numbers are facts of the protocol (they
 * must match what containerd serves); only the fields Kite reads or sets are
 * declared — protobuf skips the others on decode.
 */
import protobuf from 'protobufjs';

/** Our definition of the CRI v1 subset (proto3). */
const CRI_PROTO = `
syntax = "proto3";
package runtime.v1;

service RuntimeService {
  rpc Version(VersionRequest) returns (VersionResponse) {}
  rpc RunPodSandbox(RunPodSandboxRequest) returns (RunPodSandboxResponse) {}
  rpc StopPodSandbox(PodSandboxIdRequest) returns (Empty) {}
  rpc RemovePodSandbox(PodSandboxIdRequest) returns (Empty) {}
  rpc PodSandboxStatus(PodSandboxStatusRequest) returns (PodSandboxStatusResponse) {}
  rpc ListPodSandbox(ListPodSandboxRequest) returns (ListPodSandboxResponse) {}
  rpc CreateContainer(CreateContainerRequest) returns (CreateContainerResponse) {}
  rpc StartContainer(ContainerIdRequest) returns (Empty) {}
  rpc StopContainer(StopContainerRequest) returns (Empty) {}
  rpc RemoveContainer(ContainerIdRequest) returns (Empty) {}
  rpc ListContainers(ListContainersRequest) returns (ListContainersResponse) {}
  rpc ContainerStatus(ContainerStatusRequest) returns (ContainerStatusResponse) {}
  rpc ExecSync(ExecSyncRequest) returns (ExecSyncResponse) {}
  rpc Exec(ExecRequest) returns (UrlResponse) {}
  rpc Attach(AttachRequest) returns (UrlResponse) {}
  rpc PortForward(PortForwardRequest) returns (UrlResponse) {}
  rpc ListContainerStats(ListContainerStatsRequest) returns (ListContainerStatsResponse) {}
  rpc Status(StatusRequest) returns (StatusResponse) {}
}

service ImageService {
  rpc ListImages(ListImagesRequest) returns (ListImagesResponse) {}
  rpc ImageStatus(ImageStatusRequest) returns (ImageStatusResponse) {}
  rpc PullImage(PullImageRequest) returns (PullImageResponse) {}
  rpc RemoveImage(ImageSpecRequest) returns (Empty) {}
}

// Requests and responses with no fields, or only an id, share one message:
// on the wire only field numbers and types count.
message Empty {}
message PodSandboxIdRequest { string pod_sandbox_id = 1; }
message ContainerIdRequest { string container_id = 1; }
message UrlResponse { string url = 1; }
message ImageSpecRequest { ImageSpec image = 1; }

message VersionRequest { string version = 1; }
message VersionResponse {
  string version = 1;
  string runtime_name = 2;
  string runtime_version = 3;
  string runtime_api_version = 4;
}

message DNSConfig {
  repeated string servers = 1;
  repeated string searches = 2;
  repeated string options = 3;
}

message PortMapping {
  int32 protocol = 1; // TCP 0, UDP 1, SCTP 2
  int32 container_port = 2;
  int32 host_port = 3;
  string host_ip = 4;
}

message Mount {
  string container_path = 1;
  string host_path = 2;
  bool readonly = 3;
  int32 propagation = 5; // private 0, host-to-container 1, bidirectional 2
}

// Namespace modes: POD 0, CONTAINER 1, NODE 2, TARGET 3.
message NamespaceOption {
  int32 network = 1;
  int32 pid = 2;
  int32 ipc = 3;
}

message Int64Value { int64 value = 1; }

message LinuxSandboxSecurityContext {
  NamespaceOption namespace_options = 1;
  Int64Value run_as_user = 3;
  bool privileged = 6;
}

message LinuxPodSandboxConfig {
  string cgroup_parent = 1;
  LinuxSandboxSecurityContext security_context = 2;
  map<string, string> sysctls = 3;
}

message PodSandboxMetadata {
  string name = 1;
  string uid = 2;
  string namespace = 3;
  uint32 attempt = 4;
}

message PodSandboxConfig {
  PodSandboxMetadata metadata = 1;
  string hostname = 2;
  string log_directory = 3;
  DNSConfig dns_config = 4;
  repeated PortMapping port_mappings = 5;
  map<string, string> labels = 6;
  map<string, string> annotations = 7;
  LinuxPodSandboxConfig linux = 8;
}

message RunPodSandboxRequest {
  PodSandboxConfig config = 1;
  string runtime_handler = 2;
}
message RunPodSandboxResponse { string pod_sandbox_id = 1; }

message PodSandboxStatusRequest {
  string pod_sandbox_id = 1;
  bool verbose = 2;
}
message PodSandboxNetworkStatus { string ip = 1; }
message PodSandboxStatus {
  string id = 1;
  PodSandboxMetadata metadata = 2;
  int32 state = 3; // SANDBOX_READY 0, SANDBOX_NOTREADY 1
  int64 created_at = 4;
  PodSandboxNetworkStatus network = 5;
  map<string, string> labels = 7;
}
message PodSandboxStatusResponse {
  PodSandboxStatus status = 1;
  map<string, string> info = 2;
}

message PodSandboxFilter {
  string id = 1;
  map<string, string> label_selector = 3;
}
message ListPodSandboxRequest { PodSandboxFilter filter = 1; }
message PodSandbox {
  string id = 1;
  PodSandboxMetadata metadata = 2;
  int32 state = 3;
  int64 created_at = 4;
  map<string, string> labels = 5;
}
message ListPodSandboxResponse { repeated PodSandbox items = 1; }

message ImageSpec { string image = 1; }
message KeyValue {
  string key = 1;
  string value = 2;
}

message LinuxContainerResources {
  int64 cpu_period = 1;
  int64 cpu_quota = 2;
  int64 cpu_shares = 3;
  int64 memory_limit_in_bytes = 4;
  int64 oom_score_adj = 5;
}

message LinuxContainerSecurityContext {
  bool privileged = 2;
  NamespaceOption namespace_options = 3;
  Int64Value run_as_user = 5;
  bool readonly_rootfs = 7;
}

message LinuxContainerConfig {
  LinuxContainerResources resources = 1;
  LinuxContainerSecurityContext security_context = 2;
}

message Device {
  string container_path = 1;
  string host_path = 2;
  string permissions = 3;
}

message ContainerMetadata {
  string name = 1;
  uint32 attempt = 2;
}

message ContainerConfig {
  ContainerMetadata metadata = 1;
  ImageSpec image = 2;
  repeated string command = 3;
  repeated string args = 4;
  string working_dir = 5;
  repeated KeyValue envs = 6;
  repeated Mount mounts = 7;
  repeated Device devices = 8;
  map<string, string> labels = 9;
  map<string, string> annotations = 10;
  string log_path = 11;
  bool stdin = 12;
  bool stdin_once = 13;
  bool tty = 14;
  LinuxContainerConfig linux = 15;
}

message CreateContainerRequest {
  string pod_sandbox_id = 1;
  ContainerConfig config = 2;
  PodSandboxConfig sandbox_config = 3;
}
message CreateContainerResponse { string container_id = 1; }

message StopContainerRequest {
  string container_id = 1;
  int64 timeout = 2;
}

message ContainerFilter {
  string id = 1;
  string pod_sandbox_id = 3;
  map<string, string> label_selector = 4;
}
message ListContainersRequest { ContainerFilter filter = 1; }
message Container {
  string id = 1;
  string pod_sandbox_id = 2;
  ContainerMetadata metadata = 3;
  int32 state = 6; // CREATED 0, RUNNING 1, EXITED 2, UNKNOWN 3
  map<string, string> labels = 8;
}
message ListContainersResponse { repeated Container containers = 1; }

message ContainerStatusRequest {
  string container_id = 1;
  bool verbose = 2;
}
message ContainerStatus {
  string id = 1;
  ContainerMetadata metadata = 2;
  int32 state = 3;
  int64 created_at = 4;
  int64 started_at = 5;
  int64 finished_at = 6;
  int32 exit_code = 7;
  ImageSpec image = 8;
  string image_ref = 9;
  string reason = 10;
  string message = 11;
  string log_path = 15;
}
message ContainerStatusResponse {
  ContainerStatus status = 1;
  map<string, string> info = 2;
}

message ExecSyncRequest {
  string container_id = 1;
  repeated string cmd = 2;
  int64 timeout = 3;
}
message ExecSyncResponse {
  bytes stdout = 1;
  bytes stderr = 2;
  int32 exit_code = 3;
}

message ExecRequest {
  string container_id = 1;
  repeated string cmd = 2;
  bool tty = 3;
  bool stdin = 4;
  bool stdout = 5;
  bool stderr = 6;
}

message AttachRequest {
  string container_id = 1;
  bool stdin = 2;
  bool tty = 3;
  bool stdout = 4;
  bool stderr = 5;
}

message PortForwardRequest {
  string pod_sandbox_id = 1;
  repeated int32 port = 2;
}

message ContainerStatsFilter {
  string id = 1;
  string pod_sandbox_id = 2;
  map<string, string> label_selector = 3;
}
message ListContainerStatsRequest { ContainerStatsFilter filter = 1; }
message UInt64Value { uint64 value = 1; }
message ContainerAttributes {
  string id = 1;
  ContainerMetadata metadata = 2;
}
message CpuUsage {
  int64 timestamp = 1;
  UInt64Value usage_core_nano_seconds = 2;
}
message MemoryUsage {
  int64 timestamp = 1;
  UInt64Value working_set_bytes = 2;
  UInt64Value usage_bytes = 4;
  UInt64Value rss_bytes = 5;
  UInt64Value page_faults = 6;
  UInt64Value major_page_faults = 7;
}
message ContainerStats {
  ContainerAttributes attributes = 1;
  CpuUsage cpu = 2;
  MemoryUsage memory = 3;
}
message ListContainerStatsResponse { repeated ContainerStats stats = 1; }

message StatusRequest { bool verbose = 1; }
message RuntimeCondition {
  string type = 1;
  bool status = 2;
  string reason = 3;
  string message = 4;
}
message RuntimeStatus { repeated RuntimeCondition conditions = 1; }
message StatusResponse { RuntimeStatus status = 1; }

message ImageFilter { ImageSpec image = 1; }
message ListImagesRequest { ImageFilter filter = 1; }
message Image {
  string id = 1;
  repeated string repo_tags = 2;
  repeated string repo_digests = 3;
  uint64 size = 4;
}
message ListImagesResponse { repeated Image images = 1; }

message ImageStatusRequest {
  ImageSpec image = 1;
  bool verbose = 2;
}
message ImageStatusResponse { Image image = 1; }

message AuthConfig {
  string username = 1;
  string password = 2;
  string auth = 3;
  string server_address = 4;
  string identity_token = 5;
  string registry_token = 6;
}
message PullImageRequest {
  ImageSpec image = 1;
  AuthConfig auth = 2;
  PodSandboxConfig sandbox_config = 3;
}
message PullImageResponse { string image_ref = 1; }
`;

/** Our definition of the containerd events subset: the Subscribe stream and the task events it carries. */
const CONTAINERD_PROTO = `
syntax = "proto3";
package containerd.services.events.v1;

service Events {
  rpc Subscribe(SubscribeRequest) returns (stream Envelope);
}

// Filters are containerd filter expressions; an event matching any of them is sent.
message SubscribeRequest { repeated string filters = 1; }

message Envelope {
  google.protobuf.Timestamp timestamp = 1;
  string namespace = 2;
  string topic = 3;
  google.protobuf.Any event = 4;
}
`;

/** The task events Kite decodes (topic `/tasks/exit`, `/tasks/oom`). */
const CONTAINERD_EVENTS_PROTO = `
syntax = "proto3";
package containerd.events;

message TaskExit {
  string container_id = 1;
  string id = 2;
  uint32 pid = 3;
  uint32 exit_status = 4;
  google.protobuf.Timestamp exited_at = 5;
}

message TaskOOM { string container_id = 1; }
`;

/** The two well-known types the events service uses. */
const WELL_KNOWN_PROTO = `
syntax = "proto3";
package google.protobuf;

message Timestamp {
  int64 seconds = 1;
  int32 nanos = 2;
}

message Any {
  string type_url = 1;
  bytes value = 2;
}
`;

/** All definitions in one resolved protobuf root. */
export const root: protobuf.Root = (() => {
  const r = new protobuf.Root();
  for (const text of [WELL_KNOWN_PROTO, CRI_PROTO, CONTAINERD_PROTO, CONTAINERD_EVENTS_PROTO]) protobuf.parse(text, r, { keepCase: false });
  r.resolveAll();
  return r;
})();

/** How decoded messages become plain objects: 64-bit integers as strings (nanosecond timestamps exceed 2^53), bytes as Buffers, defaults filled in. */
export const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: Number, defaults: true, arrays: true, objects: true };

/** Encoder and decoder of one message type, by its full name (e.g. `runtime.v1.PodSandboxConfig`). */
export function codec<T>(typeName: string): { encode(v: T): Buffer; decode(b: Buffer): T } {
  const type = root.lookupType(typeName);
  return {
    encode: (v) => {
      const err = type.verify(v as object);
      if (err) throw new Error(`${typeName}: ${err}`);
      return Buffer.from(type.encode(type.fromObject(v as object)).finish());
    },
    decode: (b) => type.toObject(type.decode(b), TO_OBJECT) as T,
  };
}

/** The method path, request and response type names of an RPC, e.g. `/runtime.v1.RuntimeService/Version`. */
export function method(service: string, name: string): { path: string; requestType: string; responseType: string; serverStreaming: boolean } {
  const svc = root.lookupService(service);
  const m = svc.methods[name];
  if (!m) throw new Error(`${service} has no method ${name}`);
  m.resolve();
  return { path: `/${svc.fullName.slice(1)}/${name}`, requestType: m.resolvedRequestType!.fullName.slice(1), responseType: m.resolvedResponseType!.fullName.slice(1), serverStreaming: !!m.responseStream };
}

// Plain-object shapes of the messages (camelCase, as protobufjs converts them).

/** A string-to-string map field. */
export type StringMap = Record<string, string>;

/** CRI PodSandboxMetadata. */
export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

/** CRI Mount. */
export interface CriMount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
  propagation?: number;
}

/** CRI NamespaceOption (modes: POD 0, CONTAINER 1, NODE 2). */
export interface NamespaceOption {
  network?: number;
  pid?: number;
  ipc?: number;
}

/** Namespace modes of NamespaceOption. */
export const NamespaceMode = { POD: 0, CONTAINER: 1, NODE: 2 } as const;

/** CRI PodSandboxConfig. */
export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: { servers?: string[]; searches?: string[]; options?: string[] };
  portMappings?: { protocol?: number; containerPort: number; hostPort?: number; hostIp?: string }[];
  labels?: StringMap;
  annotations?: StringMap;
  linux?: {
    cgroupParent?: string;
    securityContext?: { namespaceOptions?: NamespaceOption; runAsUser?: { value: number }; privileged?: boolean };
    sysctls?: StringMap;
  };
}

/** CRI LinuxContainerResources (int64 fields as numbers on encode). */
export interface LinuxContainerResources {
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  memoryLimitInBytes?: number;
  oomScoreAdj?: number;
}

/** CRI ContainerConfig. */
export interface CriContainerConfig {
  metadata: { name: string; attempt?: number };
  image: { image: string };
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: { key: string; value: string }[];
  mounts?: CriMount[];
  devices?: { containerPath: string; hostPath: string; permissions: string }[];
  labels?: StringMap;
  annotations?: StringMap;
  logPath?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  linux?: { resources?: LinuxContainerResources; securityContext?: { privileged?: boolean; namespaceOptions?: NamespaceOption; readonlyRootfs?: boolean } };
}

/** CRI PodSandboxStatus (64-bit times as decimal strings of nanoseconds). */
export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata;
  state: number;
  createdAt: string;
  network?: { ip: string } | null;
  labels: StringMap;
}

/** CRI PodSandbox (a ListPodSandbox item). */
export interface PodSandboxItem {
  id: string;
  metadata: PodSandboxMetadata;
  state: number;
  createdAt: string;
  labels: StringMap;
}

/** Container states of CRI ContainerState. */
export const ContainerState = { CREATED: 0, RUNNING: 1, EXITED: 2, UNKNOWN: 3 } as const;

/** CRI Container (a ListContainers item). */
export interface ContainerItem {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number };
  state: number;
  labels: StringMap;
}

/** CRI ContainerStatus (64-bit times as decimal strings of nanoseconds; 0 when unset). */
export interface CriContainerStatus {
  id: string;
  metadata: { name: string; attempt: number };
  state: number;
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  image: { image: string } | null;
  imageRef: string;
  reason: string;
  message: string;
  logPath: string;
}

/** A CRI UInt64Value (decoded as a decimal string). */
type U64 = { value: string } | null;

/** CRI ContainerStats (timestamps in nanoseconds, counters as decimal strings). */
export interface CriContainerStats {
  attributes: { id: string; metadata: { name: string; attempt: number } | null } | null;
  cpu: { timestamp: string; usageCoreNanoSeconds: U64 } | null;
  memory: { timestamp: string; workingSetBytes: U64; usageBytes: U64; rssBytes: U64; pageFaults: U64; majorPageFaults: U64 } | null;
}

/** CRI Image. */
export interface CriImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: string;
}

/** CRI AuthConfig: registry credentials for one pull. */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

/** containerd's event envelope. */
export interface Envelope {
  timestamp: { seconds: string; nanos: number } | null;
  namespace: string;
  topic: string;
  event: { typeUrl: string; value: Buffer } | null;
}

/** containerd's TaskExit event. */
export interface TaskExit {
  containerId: string;
  id: string;
  pid: number;
  exitStatus: number;
  exitedAt: { seconds: string; nanos: number } | null;
}
