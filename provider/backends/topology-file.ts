// A topology file as a read-only cloud: what `openstack-vcluster plan --topology <file>` plans
// against, so the command's plan and `pulumi preview` go through the same controller plan. It holds
// nothing (no cluster exists on it), sees every host (pinned placement), lists no images (a file
// can't say which exist, so none is reported missing) and refuses every change.
import type { Topology } from "../model/topology";
import { type Backend, BackendError, type Discovery } from "./backend";

export class TopologyFileBackend implements Backend {
  readonly kind = "simulated" as const;
  readonly pollIntervalMs = 0;

  constructor(
    private readonly topology: Topology,
    readonly description: string,
  ) {}

  async discover(): Promise<Discovery> {
    const zones = [...new Set(this.topology.hosts.map((h) => h.zone))].sort();
    return { mode: "pinned", topology: structuredClone(this.topology), zones };
  }

  async imageProblems(): Promise<Record<string, string>> {
    return {};
  }

  async getServerGroup(): Promise<undefined> {
    return undefined;
  }
  async findServerGroups(): Promise<[]> {
    return [];
  }
  async getServer(): Promise<undefined> {
    return undefined;
  }
  async findServers(): Promise<[]> {
    return [];
  }
  async getVolume(): Promise<undefined> {
    return undefined;
  }
  async findVolumes(): Promise<[]> {
    return [];
  }
  async close(): Promise<void> {}

  private readOnly(): never {
    throw new BackendError("bad_request", `${this.description} is read-only: it can be planned against, not changed`);
  }
  createServerGroup = () => this.readOnly();
  deleteServerGroup = () => this.readOnly();
  createServer = () => this.readOnly();
  deleteServer = () => this.readOnly();
  resizeServer = () => this.readOnly();
  rebuildServer = () => this.readOnly();
  updateServerMetadata = () => this.readOnly();
  addSecurityGroup = () => this.readOnly();
  removeSecurityGroup = () => this.readOnly();
  attachNetwork = () => this.readOnly();
  detachNetwork = () => this.readOnly();
  createVolume = () => this.readOnly();
  extendVolume = () => this.readOnly();
  retypeVolume = () => this.readOnly();
  updateVolumeMetadata = () => this.readOnly();
  deleteVolume = () => this.readOnly();
  attachVolume = () => this.readOnly();
  detachVolume = () => this.readOnly();
}
