"""Reference for hashring's ketama_uhashring algorithm: asks python3-uhashring.

Run with Debian's interpreter (/usr/bin/python3), where the package is:
    uhashring_ref.py NODES KEYS
NODES: one node a line, "<name in hex> <whole weight>", in the order
hashring.ring_add_node adds them (= the dict's order);
KEYS: one key a line, UTF-8 in hex.
Builds HashRing({name: weight, ...}, hash_fn='ketama') and prints per key
"get_node(key)<TAB>names of list(range(key, 3)) joined by ','", names in hex.
"""

import sys

from uhashring import HashRing


def main():
    nodes = {}
    with open(sys.argv[1], "rb") as f:
        for line in f:
            name_hex, weight = line.split()
            name = bytes.fromhex(name_hex.decode()).decode("utf-8")
            if name in nodes:
                sys.exit(f"uhashring_ref: node {name!r} twice")
            nodes[name] = int(weight)
    ring = HashRing(nodes, hash_fn="ketama")
    if list(ring.get_nodes()) != list(nodes):
        sys.exit("uhashring_ref: uhashring changed the node order")

    def hx(name):
        return name.encode("utf-8").hex()

    out = []
    with open(sys.argv[2], "rb") as f:
        for line in f:
            key = bytes.fromhex(line.strip().decode()).decode("utf-8")
            owner = ring.get_node(key)
            pref = [n["nodename"] for n in ring.range(key, 3)]
            out.append(hx(owner) + "\t" + ",".join(hx(n) for n in pref) + "\n")
    sys.stdout.write("".join(out))


main()
