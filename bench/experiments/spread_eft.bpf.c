/* ifupdown-agg: the overlay's per-packet spreader (tc clsact egress of the
 * overlay device).
 *
 * Each packet to a peer's virtual address leaves through one of the peer's
 * paths (a member NIC and the peer's next hop on it): the one where it would
 * arrive first. Every path keeps a virtual queue, drained at the path's rate;
 * a packet would finish at max(now, the queue's end) + its length at that
 * rate, and goes where that is earliest (earliest finish time). On equal
 * links this alternates packet by packet, as a round robin does; on unequal
 * ones the slow link only takes a packet when the fast link's queue is
 * already longer than the slow link's serialisation of it, so packets leave
 * the two in the order they will arrive, and a flow that does not fill the
 * fast link does not touch the slow one. A GSO super-packet counts for what
 * it carries.
 *
 * `run` is the path's rate, in bytes per RUN_NS: the planner sizes it to
 * ~80 us of the link; the link monitor lowers it when other traffic takes
 * part of the link (issue #19) and sets it to 0 when the path is down (one
 * map update per peer). The per-packet path never leaves the kernel.
 * Packets to addresses that are not peers pass on unchanged.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_PATHS 8
#define MAX_PEERS 256
#define RUN_NS 80000	/* a run is the bytes a path carries in 80 us */

struct path {
	__u32 ifindex;
	__be32 gateway;
	__u32 run;	/* its rate: bytes per RUN_NS; 0 = out of the rotation */
	__u32 base;	/* the run the config gives (userspace's; the program reads run) */
	__u64 finish;	/* when its virtual queue empties (ns, ktime); 0 from userspace */
};

struct peer {
	struct bpf_spin_lock lock;	/* the credits change together */
	__u32 slot;	/* index of this peer's counters in "stats" */
	__u32 npaths;
	__u32 pad;
	__u64 cycle;	/* sum of the runs (0: no path in the rotation) */
	struct path paths[MAX_PATHS];
};

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

SEC("tc")
int spread(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data;

	if (skb->protocol != bpf_htons(ETH_P_IP) || (void *)(ip + 1) > end)
		return TC_ACT_OK;
	__be32 daddr = ip->daddr;
	struct peer *peer = bpf_map_lookup_elem(&peers, &daddr);
	if (!peer || !peer->cycle)
		return TC_ACT_OK;

	/* Helpers may not be called under the lock: the clock is read first. */
	__u64 now = bpf_ktime_get_ns(), len = skb->len, first = ~0ULL;
	__s32 best = -1;
	bpf_spin_lock(&peer->lock);
	for (__u32 i = 0; i < MAX_PATHS; i++) {
		if (i >= peer->npaths)
			break;
		struct path *p = &peer->paths[i];
		if (!p->run)
			continue;
		__u64 start = p->finish > now ? p->finish : now;
		__u64 done = start + len * RUN_NS / p->run;
		if (done < first) {
			best = i;
			first = done;
		}
	}
	if (best >= 0)
		peer->paths[best & (MAX_PATHS - 1)].finish = first;
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
	/* The overlay device is layer 3: the skb has no MAC header, and
	 * bpf_redirect_neigh() strips one before it fills in the member's.
	 * Push a blank one (unicast zeros) for it to strip. */
	if (bpf_skb_change_head(skb, ETH_HLEN, 0))
		return TC_ACT_SHOT;
	struct bpf_redir_neigh nh = {
		.nh_family = 2,	/* AF_INET */
		.ipv4_nh = path->gateway,
	};
	return bpf_redirect_neigh(path->ifindex, &nh, sizeof(nh), 0);
}

char _license[] SEC("license") = "GPL";
