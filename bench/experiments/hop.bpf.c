/* Experiment (#14/#19): a pacing hop between the overlay device and the spreader.
 *
 * tc/hop, on the overlay (tun) device's egress: push an Ethernet header and send the
 * packet into a veth of ours (HOP_IFINDEX); its root qdisc holds the one queue (tbf at
 * the links' summed rate), its transmit segments GSO packets in software.
 * tc/spread, on the veth peer's ingress: the spreader of spread.bpf.c for a layer-2
 * skb; with -DEFT the earliest-finish-time choice instead of the byte rotation.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_PATHS 8
#define MAX_PEERS 256
#define RUN_NS 80000

struct path { __u32 ifindex; __be32 gateway; __u32 run; __u32 base; __s64 credit; };
struct peer { struct bpf_spin_lock lock; __u32 slot; __u32 npaths; __u32 pad; __u64 cycle;
	      struct path paths[MAX_PATHS]; };
struct counter { __u64 packets; __u64 bytes; };

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, MAX_PEERS);
	 __type(key, __be32); __type(value, struct peer); } peers SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, MAX_PEERS * MAX_PATHS);
	 __type(key, __u32); __type(value, struct counter); } stats SEC(".maps");

SEC("tc/hop")
int hop(struct __sk_buff *skb)
{
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_change_head(skb, ETH_HLEN, 0))
		return TC_ACT_SHOT;
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	__builtin_memset(eth, 0, sizeof(*eth));
	eth->h_dest[0] = 0x02;
	eth->h_proto = bpf_htons(ETH_P_IP);
	return bpf_redirect(HOP_IFINDEX, 0);
}

SEC("tc/spread")
int spread(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;

	if (skb->protocol != bpf_htons(ETH_P_IP) || (void *)(ip + 1) > end)
		return TC_ACT_SHOT;
	__be32 daddr = ip->daddr;
	struct peer *peer = bpf_map_lookup_elem(&peers, &daddr);
	if (!peer || !peer->cycle)
		return TC_ACT_SHOT;
	__s32 best = -1;
#ifdef EFT
	__u64 now = bpf_ktime_get_ns(), len = skb->len, first = ~0ULL;
	bpf_spin_lock(&peer->lock);
	for (__u32 i = 0; i < MAX_PATHS; i++) {
		if (i >= peer->npaths)
			break;
		struct path *p = &peer->paths[i];
		if (!p->run)
			continue;
		__u64 fin = p->credit;
		__u64 start = fin > now ? fin : now;
		__u64 done = start + len * RUN_NS / p->run;
		if (done < first) {
			best = i;
			first = done;
		}
	}
	if (best >= 0)
		peer->paths[best & (MAX_PATHS - 1)].credit = first;
	bpf_spin_unlock(&peer->lock);
#else
	__s64 len = skb->len, top = 0;
	bpf_spin_lock(&peer->lock);
	for (__u32 i = 0; i < MAX_PATHS; i++) {
		if (i >= peer->npaths)
			break;
		struct path *p = &peer->paths[i];
		if (!p->run)
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
#endif
	if (best < 0)
		return TC_ACT_SHOT;
	__u32 chosen = best & (MAX_PATHS - 1);
	struct path *path = &peer->paths[chosen];
	__u32 key = peer->slot * MAX_PATHS + chosen;
	struct counter *c = bpf_map_lookup_elem(&stats, &key);
	if (c) {
		c->packets += skb->gso_segs ? skb->gso_segs : 1;
		c->bytes += skb->len;
	}
	struct bpf_redir_neigh nh = { .nh_family = 2, .ipv4_nh = path->gateway };
	return bpf_redirect_neigh(path->ifindex, &nh, sizeof(nh), 0);
}

char _license[] SEC("license") = "GPL";
