/* ifupdown-agg: the overlay's per-packet spreader (tc clsact egress of the
 * overlay device).
 *
 * Each packet to a peer's virtual address leaves through one of the peer's
 * paths (a member NIC and the peer's next hop on it), chosen by a smooth
 * weighted rotation counted in bytes: every packet adds run x len to each
 * path's credit, the path with the most credit takes it and gives back
 * cycle x len. Paths therefore alternate packet by packet (2:1 weights give
 * 0 1 0 0 1 0, not 0 0 1), and each carries exactly its share of the bytes,
 * whatever the packets' sizes: a GSO super-packet counts for what it carries.
 * `run` is the path's weight, sized by the planner to ~80 us of its link.
 *
 * The link monitor rewrites a peer's entry (one map update) when a path's
 * health or free capacity changes; the per-packet path never leaves the
 * kernel.  Packets to addresses that are not peers pass on unchanged.
 *
 * Traffic the overlay does not originate (forwarded from a container bridge,
 * a VXLAN tunnel to a peer's overlay address) reaches this hook as whole GSO
 * super-packets: the overlay device's GSO cap only binds our own sockets. Such
 * a packet, with more segments than the cap, takes the "segmenting hop": a
 * veth pair of ours whose entry has gso_max_segs 1, so the kernel segments it
 * in software as it enters; the same program, attached to the ingress of the
 * pair's exit, then spreads each segment (it has an Ethernet header there).
 * A packet routed through the overlay device to a non-peer address (a pod
 * subnet via a peer) goes to the peer its route's gateway names.
 * With pacing (agg-pace) every packet takes the hop, whose entry's tbf paces
 * the overlay at its paths' summed rate (see struct hop).
 *
 * Other traffic on a member NIC (a backup job on the same LAN port) queues
 * in front of ours and delays every packet we put behind it: the flow then
 * sees them late, as reordering. So the same program also sits on each
 * member NIC's tcx egress, where it keeps a virtual queue of everything that
 * NIC sends (ours and the rest), drained at the NIC's rate (struct meter).
 * The rotation skips a path whose NIC's queue is more than one frame's time
 * of that link (and 60 us, the scheduler's jitter) above the least-queued
 * path's: such a packet would arrive late. Equal rotation keeps queues
 * within one packet of each other, so without other traffic nothing is
 * skipped.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_PATHS 8
#define MAX_PEERS 256

struct path {
	__u32 ifindex;
	__be32 gateway;
	__u32 run;	/* its weight: bytes per rotation; 0 = out of the rotation */
	__u32 base;	/* the run the config gives (userspace's; the program reads run) */
	__s64 credit;	/* the rotation's state; written as 0 by userspace */
};

struct peer {
	struct bpf_spin_lock lock;	/* the credits change together */
	__u32 slot;	/* index of this peer's counters in "stats" */
	__u32 npaths;
	__u32 pad;
	__u64 cycle;	/* sum of the runs */
	struct path paths[MAX_PATHS];
};

/* The segmenting hop: entry and exit ifindex, and the segments a GSO packet
 * may carry and still be spread whole (the overlay device's gso_max_segs);
 * entry 0 = no hop. max_segs 0 = the pacing hop: every packet to a peer takes
 * it, our own too. Its entry's root qdisc (a tbf at the paths' summed rate)
 * then holds the one standing queue, so the member NICs' queues stay short
 * and the paths' delays equal: segments arrive in order (measured at 2x300
 * serialised: 0-1 spurious retransmits per 5 s instead of 140-490), and TCP
 * builds full GSO packets, which the entry segments below the stack. */
struct hop {
	__u32 entry;
	__u32 exit;
	__u32 max_segs;
	__u32 dev;	/* the overlay device */
	__u32 pace;	/* the planned pacing rate, Mbit/s (userspace's: the link monitor
			 * lowers the tbf's rate while paths are down or busy) */
};

/* A member NIC's virtual queue: when everything handed to it so far will have
 * left, at its rate. Keyed by ifindex; written by userspace with finish 0. */
struct meter {
	struct bpf_spin_lock lock;
	__u32 ps_per_byte;	/* its rate: picoseconds a byte takes */
	__u64 finish;		/* ktime (ns) when its queue empties */
	__u32 slack_ns;		/* how far above the least-queued path it may be and take a packet */
	__u32 pad;
};

#define MAX_METERS 64
#define TCX_NEXT -1		/* tcx: let the next program (the user's) run */

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PEERS);
	__type(key, __be32);
	__type(value, struct peer);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_PEERS * MAX_PATHS);
	__type(key, __u32);
	__type(value, struct counter);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hop);
} hops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_METERS);
	__type(key, __u32);
	__type(value, struct meter);
} meters SEC(".maps");

/* Demand mode's wake-up (monitor/demand.py): the monitor arms a peer it probes
 * slowly (nothing sent to it for a while); the first packet for an armed peer
 * disarms it and puts its slot in the ring, whose fd wakes the monitor at once,
 * so an idle monitor need not poll the counters. Racing CPUs may both send. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PEERS);
	__type(key, __u32);
	__type(value, __u32);
} armed SEC(".maps");

/* One page: a wake-up is 4 bytes and the monitor drains at once; libbpf rounds
 * the size up where pages are larger (a Pi 5's 16 KB). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} wake SEC(".maps");

static __always_inline void wake_monitor(__u32 slot)
{
	__u32 *armed_slot = bpf_map_lookup_elem(&armed, &slot);

	if (armed_slot && *armed_slot) {
		*armed_slot = 0;
		bpf_ringbuf_output(&wake, &slot, sizeof(slot), 0);
	}
}

/* On a member NIC's egress: add the packet to the NIC's virtual queue. */
static __always_inline int meter(struct __sk_buff *skb, struct meter *m)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 cost = (__u64)skb->len * m->ps_per_byte / 1000;

	bpf_spin_lock(&m->lock);
	m->finish = (m->finish > now ? m->finish : now) + cost;
	bpf_spin_unlock(&m->lock);
	return TCX_NEXT;
}

/* Frame an L3 skb of the overlay device and send it into the hop's entry,
 * whose transmit path segments it. */
static __always_inline int to_hop(struct __sk_buff *skb, const struct hop *hop)
{
	__be16 proto = bpf_htons(ETH_P_IP);

	if (bpf_skb_change_head(skb, ETH_HLEN, 0) ||
	    bpf_skb_store_bytes(skb, 12, &proto, sizeof(proto), 0))
		return TC_ACT_SHOT;
	return bpf_redirect(hop->entry, 0);
}

static __always_inline int steer(struct __sk_buff *skb, struct peer *peer, int framed);

/* A packet routed through the overlay device to a peer (a pod subnet via the
 * peer's overlay address, flannel's host-gw) carries its final destination:
 * the route's gateway names the peer. Kernels without SKIP_NEIGH (6.3) refuse
 * the lookup and such packets pass on as before. */
static __always_inline struct peer *routed_peer(struct __sk_buff *skb, __be32 daddr, __u32 dev)
{
	struct bpf_fib_lookup fib = {};

	fib.family = 2;		/* AF_INET */
	fib.ipv4_dst = daddr;
	fib.ifindex = dev;
	long rc = bpf_fib_lookup(skb, &fib, sizeof(fib),
				 BPF_FIB_LOOKUP_OUTPUT | BPF_FIB_LOOKUP_SKIP_NEIGH);
	if ((rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) ||
	    fib.ifindex != dev || fib.ipv4_dst == daddr)
		return 0;
	__be32 gateway = fib.ipv4_dst;
	return bpf_map_lookup_elem(&peers, &gateway);
}

SEC("tc")
int spread(struct __sk_buff *skb)
{
	__u32 zero = 0, dev = skb->ifindex;
	const struct hop *hop = bpf_map_lookup_elem(&hops, &zero);
	/* At the hop's exit the skb is one segment and has an Ethernet header. */
	int framed = hop && hop->exit && skb->ifindex == hop->exit;
	__be32 daddr;

	if (!framed && (!hop || skb->ifindex != hop->dev)) {
		__u32 nic = skb->ifindex;
		struct meter *m = bpf_map_lookup_elem(&meters, &nic);
		if (m)
			return meter(skb, m);
	}

	if (skb->protocol != bpf_htons(ETH_P_IP) ||
	    bpf_skb_load_bytes(skb, (framed ? ETH_HLEN : 0) + 16, &daddr, sizeof(daddr)))
		return framed ? TC_ACT_SHOT : TC_ACT_OK;
	struct peer *peer = bpf_map_lookup_elem(&peers, &daddr);
	if (!peer) {
		if (framed && hop)
			dev = hop->dev;
		peer = routed_peer(skb, daddr, dev);
	}
	if (!peer || !peer->cycle)
		return framed ? TC_ACT_SHOT : TC_ACT_OK;
	if (!framed && hop && hop->entry && (!hop->max_segs || skb->gso_segs > hop->max_segs))
		return to_hop(skb, hop);
	return steer(skb, peer, framed);
}

/* Choose the peer's path for this skb and redirect it there. */
static __always_inline int steer(struct __sk_buff *skb, struct peer *peer, int framed)
{
	__s64 len = skb->len, top = 0;
	__s32 best = -1;
	/* Each path's NIC queue, beyond what it may carry and take this packet
	 * (read without the peer's lock: helpers may not run under it). */
	__u64 late[MAX_PATHS] = {}, least = ~0ULL, now = bpf_ktime_get_ns();
	for (__u32 i = 0; i < MAX_PATHS; i++) {
		if (i >= peer->npaths)
			break;
		__u32 nic = peer->paths[i].ifindex;
		struct meter *m = bpf_map_lookup_elem(&meters, &nic);
		__u64 queue = m && m->finish > now ? m->finish - now : 0;
		late[i] = m && queue > m->slack_ns ? queue - m->slack_ns : 0;
		if (peer->paths[i].run && queue < least)
			least = queue;
	}
	bpf_spin_lock(&peer->lock);
	for (__u32 i = 0; i < MAX_PATHS; i++) {
		if (i >= peer->npaths)
			break;
		struct path *p = &peer->paths[i];
		if (!p->run || late[i] > least)
			continue;
		p->credit += (__s64)p->run * len;
		if (best < 0 || p->credit > top) {
			best = i;
			top = p->credit;
		}
	}
	if (best >= 0)
		peer->paths[best & (MAX_PATHS - 1)].credit -= (__s64)peer->cycle * len;
	bpf_spin_unlock(&peer->lock);
	if (best < 0)
		return TC_ACT_OK;
	__u32 chosen = best;
	struct path *path = &peer->paths[chosen & (MAX_PATHS - 1)];
	__u32 key = peer->slot * MAX_PATHS + (chosen & (MAX_PATHS - 1));
	struct counter *c = bpf_map_lookup_elem(&stats, &key);
	if (c) {
		c->packets += skb->gso_segs ? skb->gso_segs : 1;
		c->bytes += skb->len;
	}
	wake_monitor(peer->slot);
	/* The overlay device is layer 3: the skb has no MAC header, and
	 * bpf_redirect_neigh() strips one before it fills in the member's.
	 * Push a blank one (unicast zeros) for it to strip. At the hop's exit
	 * the skb has one already. */
	if (!framed && bpf_skb_change_head(skb, ETH_HLEN, 0))
		return TC_ACT_SHOT;
	struct bpf_redir_neigh nh = {
		.nh_family = 2,	/* AF_INET */
		.ipv4_nh = path->gateway,
	};
	return bpf_redirect_neigh(path->ifindex, &nh, sizeof(nh), 0);
}

char _license[] SEC("license") = "GPL";
