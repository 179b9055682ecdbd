/* ifupdown-agg: the overlay's per-packet spreader (tc clsact egress of the
 * overlay device).
 *
 * Each packet to a peer's virtual address leaves through one of the peer's
 * paths (a member NIC and the peer's next hop on it), chosen by a byte-based
 * weighted rotation: path i takes `run` bytes in a row, then the next one.
 * Runs are sized by the planner to last about as long on every link, so a
 * fast link takes longer runs.  The rotation counts bytes, not packets, so a
 * GSO super-packet counts for what it carries and the shares stay exact.
 *
 * The link monitor rewrites a peer's entry (one map update) when a path's
 * health or free capacity changes; the per-packet path never leaves the
 * kernel.  Packets to addresses that are not peers pass on unchanged.
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
	__u32 run;	/* bytes in a row; 0 = out of the rotation */
	__u32 pad;
};

struct peer {
	__u32 slot;	/* index of this peer's counters in "stats" */
	__u32 npaths;
	__u64 cycle;	/* sum of the runs */
	__u64 sent;	/* bytes sent so far: the position in the rotation */
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

	__u64 pos = __sync_fetch_and_add(&peer->sent, skb->len) % peer->cycle;
	__u32 chosen = 0;
	for (__u32 i = 0; i < MAX_PATHS; i++) {
		if (i >= peer->npaths)
			break;
		chosen = i;
		if (pos < peer->paths[i].run)
			break;
		pos -= peer->paths[i].run;
	}
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
