//! Consistent hashing compatible with libmemcached's weighted ketama.
//!
//! This is the continuum libmemcached builds with `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`
//! (what PHP's `Memcached::OPT_LIBKETAMA_COMPATIBLE` turns on, and what the ElastiCache
//! cluster clients use), reproduced from libmemcached's `hosts.cc` (`update_continuum`,
//! `ketama_server_hash`) and `hash.cc` (`dispatch_host`):
//!
//! - Each server `i` with weight `w_i` gets `floor(w_i / Σw · 160 / 4 · n) · 4` points,
//!   computed in `f32` exactly as libmemcached does (n = number of servers). With equal
//!   weights that is 160 points per server, except for a few server counts (25, 47, 50,
//!   55, 61, ...) where the `f32` product comes out at 39.999998 and libmemcached gives
//!   every server 156; we keep that quirk, since matching its placement is the point.
//! - The points come in groups of 4 from `md5(sort_host)`, where `sort_host` is
//!   `"<host>-<j>"` when the port is 11211 and `"<host>:<port>-<j>"` otherwise
//!   (j = 0, 1, ...). libmemcached really omits the default port; the `host` is the
//!   node's host name (the first field of `host|ip|port`), not its ip.
//!   Point `k` of a digest `d` is `d[4k+3] << 24 | d[4k+2] << 16 | d[4k+1] << 8 | d[4k]`.
//! - The continuum is sorted by (point, server index).
//! - A key hashes to the first 4 bytes of `md5(key)`, read the same little-endian way; it
//!   belongs to the first point ≥ its hash, wrapping to the first point past the end.
//!
//! Server indexes are positions in the list given to [`Ring::new`]; give it the
//! [`NodeList`] order (sorted by host, then port) and they agree with a libmemcached client
//! fed the discovery payload. Pure; no I/O.

use md5::{Digest, Md5};

use super::NodeList;

/// libmemcached's `MEMCACHED_POINTS_PER_SERVER_KETAMA`.
pub const POINTS_PER_SERVER: u32 = 160;
/// Points taken from each MD5 digest.
pub const POINTS_PER_HASH: u32 = 4;
/// libmemcached's `MEMCACHED_DEFAULT_PORT`: left out of the sort host.
pub const DEFAULT_PORT: u16 = 11211;

/// One point on the continuum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Point {
    pub value: u32,
    /// Index of the owning server in the list given to [`Ring::new`].
    pub index: u32,
}

/// A server as the ring sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingServer {
    pub host: String,
    pub port: u16,
    /// 0 counts as 1 (libmemcached's default weight).
    pub weight: u32,
}

/// The continuum. Cheap to look up in (binary search); rebuild it when the list changes.
#[derive(Clone, Debug, Default)]
pub struct Ring {
    points: Vec<Point>,
    servers: usize,
}

impl Ring {
    /// Builds the continuum for `servers`, in the given order.
    pub fn new(servers: &[RingServer]) -> Ring {
        let n = servers.len();
        let total: u64 = servers.iter().map(|s| u64::from(s.weight.max(1))).sum();
        let mut points = Vec::with_capacity(n * POINTS_PER_SERVER as usize);
        for (index, s) in servers.iter().enumerate() {
            let per_server = points_for(s.weight.max(1), total, n);
            for j in 0..per_server / POINTS_PER_HASH {
                let digest = Md5::digest(sort_host(&s.host, s.port, j).as_bytes());
                for k in 0..POINTS_PER_HASH as usize {
                    points.push(Point {
                        value: le32(&digest[4 * k..4 * k + 4]),
                        index: index as u32,
                    });
                }
            }
        }
        points.sort_unstable();
        Ring { points, servers: n }
    }

    /// The ring of a discovery node list: every node weight 1, hashed on its host name.
    pub fn from_nodes(nodes: &NodeList) -> Ring {
        let servers: Vec<RingServer> = nodes
            .iter()
            .map(|n| RingServer {
                host: n.host.clone(),
                port: n.port,
                weight: 1,
            })
            .collect();
        Ring::new(&servers)
    }

    /// Index of the server that owns `key`, or `None` for an empty ring.
    ///
    /// Like libmemcached, a single server owns every key.
    pub fn lookup(&self, key: &[u8]) -> Option<usize> {
        if self.servers == 1 {
            return Some(0);
        }
        self.lookup_hash(key_hash(key))
    }

    /// Index of the server owning the first point ≥ `hash` (wrapping).
    pub fn lookup_hash(&self, hash: u32) -> Option<usize> {
        self.point_for(hash).map(|p| p.index as usize)
    }

    /// The point a hash lands on (first ≥ `hash`, wrapping).
    pub fn point_for(&self, hash: u32) -> Option<Point> {
        let i = self.points.partition_point(|p| p.value < hash);
        self.points.get(i).or_else(|| self.points.first()).copied()
    }

    /// The sorted continuum.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Number of servers the ring was built from.
    pub fn server_count(&self) -> usize {
        self.servers
    }
}

/// libmemcached's weighted point count, with its `f32` arithmetic kept so rounding matches.
fn points_for(weight: u32, total_weight: u64, servers: usize) -> u32 {
    let pct = weight as f32 / total_weight as f32;
    let per_hash_groups =
        (pct * POINTS_PER_SERVER as f32 / POINTS_PER_HASH as f32 * servers as f32 + 1e-10_f32)
            .floor();
    per_hash_groups as u32 * POINTS_PER_HASH
}

/// The string hashed for the `j`-th group of a server's points.
pub fn sort_host(host: &str, port: u16, j: u32) -> String {
    if port == DEFAULT_PORT {
        format!("{host}-{j}")
    } else {
        format!("{host}:{port}-{j}")
    }
}

/// libmemcached's MD5 key hash: the first 4 digest bytes, little-endian.
pub fn key_hash(key: &[u8]) -> u32 {
    le32(&Md5::digest(key)[..4])
}

fn le32(b: &[u8]) -> u32 {
    u32::from(b[3]) << 24 | u32::from(b[2]) << 16 | u32::from(b[1]) << 8 | u32::from(b[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Node;

    /// libmemcached's weighted ketama fixture: servers `10.0.1.1..8:11211` with these weights
    /// (test/tests/memcached/ketama.cpp, "memcached_ketama_compat").
    const WEIGHTS: [u32; 8] = [600, 300, 200, 350, 1000, 800, 950, 100];

    /// libmemcached `test/fixtures/ketama.hpp` (`ketama_test_cases`, all 99 rows):
    /// (key, md5 key hash, continuum point it lands on, owning server 10.0.1.N).
    const VECTORS: [(&str, u32, u32, u8); 99] = [
        ("SVa_]_V41)", 443691461, 445379617, 7),
        ("*/Z;?V(.\\8", 1422915503, 1428303028, 1),
        ("30C1*Z*S/_", 1473165754, 1480075959, 2),
        ("ERR:EC58G>", 2148406511, 2168579133, 7),
        ("1I=cTMNTKF", 2882686667, 2885206587, 5),
        ("]VG<`I*Z8)", 1103544263, 1104827657, 5),
        ("UUTC`-V159", 3716288206, 3727224240, 5),
        ("@7RU6C6T+Z", 3862737685, 3871917949, 5),
        ("/XLN0@+36;", 1623269830, 1627683651, 1),
        ("4(`X;\\V.^c", 373546328, 383925769, 1),
        ("726bW=9*a4", 4213440020, 4213950705, 7),
        ("\\`)<B)UE,c", 951096736, 955226069, 1),
        ("P1[Ma3=K1/", 1989324036, 1994028240, 8),
        ("C89I.-V?cT", 1604239957, 1606398093, 8),
        ("D[HE+cFXDK", 2117036136, 2117124014, 3),
        ("P1L?NAB[)K", 2129972569, 2132542634, 1),
        ("cDT0)Z5P6,", 176485284, 178675413, 5),
        ("@JW`+[WAO8", 2720940826, 2743975456, 5),
        ("\\39DKW^)N_", 3548879868, 3550704865, 3),
        ("EM75N0+[X1", 1558531507, 1559308507, 4),
        ("`,SS]NBP,b", 1883545960, 1884847278, 1),
        ("XX1a9LT+F?", 653487707, 656410408, 5),
        ("Zc\\-,F-c6V", 1160802451, 1171575728, 5),
        ("1*RTMC7,03", 1602398012, 1606398093, 8),
        ("*Xc+V0P>32", 536016577, 539988520, 7),
        ("U))Fb-(`,.", 4128682289, 4136854163, 7),
        ("R-08RNTaRT", 3718170086, 3727224240, 5),
        ("(LHcO203I3", 1007779411, 1014643570, 5),
        ("=256P+;Qc8", 3976201210, 3976304873, 5),
        ("OI5XZ_BBT(", 2155922164, 2168579133, 7),
        ("2TLRL/UL;:", 1086800909, 1095659802, 7),
        ("WHD\\O1`ZRW", 3087923411, 3095471560, 5),
        (".=54)_c;=T", 2497691631, 2502731301, 1),
        (";G<W-XWZ@b", 2888169733, 2888728739, 5),
        ("(,>E`)FT\\4", 580747448, 581063326, 2),
        ("HZAU*;P*N]", 2564670474, 2565697267, 7),
        ("NZ@ZE=O84_", 533335275, 539988520, 7),
        ("6,cEI`F_P>", 3972869246, 3974773167, 6),
        ("c,5AQ/T5)6", 2835605783, 2847870057, 8),
        (".O,>>BT)RX", 3857978174, 3871917949, 5),
        ("XY\\X::LX50", 1749241099, 1752196488, 6),
        ("+550F^/.01", 3781824099, 3783248219, 6),
        ("<.X9E2S5+9", 3232479481, 3234387706, 7),
        ("]\\.UH8_0a1", 2419699252, 2423002920, 4),
        ("8(6=(T0/Z0", 728266737, 729026070, 7),
        ("8*6a;Sc*X+", 4223431086, 4230156966, 2),
        ("<QW:;3K6;H", 2731158143, 2743975456, 5),
        ("7C@EY@-Y?_", 760770733, 761576669, 5),
        ("aPb3E1WD4K", 2500489218, 2502731301, 1),
        ("?@12R<=1BH", 1494795329, 1502505505, 8),
        ("QR(a+Q=1FU", 3238535074, 3238996435, 6),
        ("`C9^FV,960", 2628553463, 2628733766, 6),
        ("UNHVP..^8H", 977096483, 977319837, 4),
        (":Y.2W2[(35", 2777083668, 2784182515, 7),
        ("M/HV^_HZ4O", 3623390946, 3624445007, 7),
        ("ZY16KQ<ICD", 1831153193, 1838563516, 4),
        ("bV2,`a.PY9", 1962228869, 1962648654, 1),
        ("U;9:-+5N]9", 269504649, 277560877, 1),
        ("1S/:aJ[1(;", 578069729, 581063326, 2),
        ("Nb-X^]M)I:", 330865696, 331009896, 6),
        ("2;M;ES>J5/", 2776949824, 2784182515, 7),
        ("[>RZHG97Q9", 71954686, 72034069, 6),
        ("J3/G[)9<^Z", 2799896459, 2805183696, 7),
        ("N-)88>[O`,", 50404102, 51792557, 5),
        ("NP:=FR\\OaA", 3837333776, 3837792034, 7),
        ("`@L+W;a,O[", 1512157148, 1522285852, 6),
        ("W2`P:-+1T[", 2945171975, 2946196424, 5),
        ("-6G7K^YDIN", 3168617340, 3170513015, 7),
        ("U>*>9ZI6V5", 668514946, 674097631, 6),
        (".I?^6Ic9RK", 938419020, 942832691, 6),
        ("0OZH^9BKM[", 3682518606, 3686781297, 8),
        ("5?50UGZ:ML", 868610882, 869425986, 5),
        ("?K2NF@3=IU", 381218851, 383925769, 1),
        ("YI@G-2X?UB", 3688706179, 3693197681, 5),
        ("7cY</BSaL=", 3976870223, 3978903843, 6),
        ("A(`KF:[RH8", 3292979676, 3294849139, 6),
        (";=ZT\\W^P+H", 1401102653, 1416290674, 4),
        ("b2?WFF56;R", 480494704, 486971192, 4),
        ("CTR74,J+N.", 137446045, 146633907, 8),
        ("<b;*R+QDST", 1304985302, 1308223778, 5),
        ("\\R^7=9UCG`", 126218373, 129199837, 5),
        ("1bQS5]WOXB", 1853470245, 1855329369, 4),
        ("M(@X^b[L:K", 3019630308, 3022260113, 1),
        ("431cBF8,YO", 1679726993, 1685224295, 7),
        ("(bEIQJ:E./", 2922607787, 2925521819, 6),
        ("WS/3H*)7F;", 419488232, 422140585, 5),
        ("ZJF[Ia6Q)+", 3960568056, 3962489998, 7),
        ("<]*QCK8U,>", 2590140172, 2598117636, 7),
        ("\\[a\\^=V_M0", 689410119, 698690782, 6),
        ("7;RM+8J9YC", 1530175299, 1531107082, 7),
        ("4*=.SPR[AV", 3928582722, 3928853792, 1),
        ("-2F+^88P4U", 3023552752, 3025823613, 7),
        ("X;-F`(N?9D", 570465234, 572485994, 7),
        ("R=F_D-K2a]", 1287750228, 1290935562, 7),
        ("X*+2aaC.EG", 3200948713, 3201088518, 5),
        ("[1ZXONX2]a", 4108881567, 4109865744, 4),
        ("FL;\\GWacaV", 458449508, 467374054, 4),
        ("\\MQ_XNT7L-", 1259349383, 1259509450, 7),
        ("VD6D0]ba_\\", 3842502950, 3842588691, 1),
    ];

    fn fixture_ring() -> Ring {
        let servers: Vec<RingServer> = WEIGHTS
            .iter()
            .enumerate()
            .map(|(i, &weight)| RingServer {
                host: format!("10.0.1.{}", i + 1),
                port: 11211,
                weight,
            })
            .collect();
        Ring::new(&servers)
    }

    #[test]
    fn key_hash_matches_libmemcached_md5() {
        for (key, hash, _, _) in VECTORS {
            assert_eq!(key_hash(key.as_bytes()), hash, "key {key:?}");
        }
    }

    #[test]
    fn libmemcached_weighted_ketama_vectors() {
        let ring = fixture_ring();
        for (key, hash, point, server) in VECTORS {
            let p = ring.point_for(hash).unwrap();
            assert_eq!(p.value, point, "key {key:?}: continuum point");
            let idx = ring.lookup(key.as_bytes()).unwrap();
            assert_eq!(idx + 1, server as usize, "key {key:?}: server");
        }
    }

    #[test]
    fn wraps_past_the_last_point() {
        // From the same libmemcached test: "VDEAAAAA hashes to fffcd1b5, after the last
        // continuum point", so it belongs to the owner of the first point.
        let ring = fixture_ring();
        assert_eq!(key_hash(b"VDEAAAAA"), 0xfffc_d1b5);
        assert!(ring.points().last().unwrap().value < 0xfffc_d1b5);
        assert_eq!(
            ring.lookup(b"VDEAAAAA"),
            Some(ring.points()[0].index as usize)
        );
        assert_eq!(
            ring.lookup_hash(u32::MAX),
            Some(ring.points()[0].index as usize)
        );
    }

    #[test]
    fn weighted_point_counts() {
        let ring = fixture_ring();
        let total: u32 = WEIGHTS.iter().sum();
        for (i, &w) in WEIGHTS.iter().enumerate() {
            let have = ring.points().iter().filter(|p| p.index == i as u32).count() as u32;
            assert_eq!(have, points_for(w, u64::from(total), 8));
            assert_eq!(have % POINTS_PER_HASH, 0);
        }
        // Equal weights: 160 points per server, except where libmemcached's f32 arithmetic
        // lands just under a whole group (1/25 * 160 / 4 * 25 = 39.999998 -> 39 groups).
        // Cross-checked with IEEE single-precision steps in Python.
        for n in 1..=64 {
            let want = if [25, 47, 50, 55, 61].contains(&n) {
                156
            } else {
                160
            };
            assert_eq!(points_for(1, n as u64, n), want, "n = {n}");
        }
    }

    #[test]
    fn sort_host_omits_the_default_port() {
        assert_eq!(sort_host("10.0.1.1", 11211, 0), "10.0.1.1-0");
        assert_eq!(sort_host("cache-a", 11212, 39), "cache-a:11212-39");
    }

    #[test]
    fn points_for_a_non_default_port_come_from_host_colon_port() {
        // md5("cache-a:11212-0") starts 36 67 d3 b2 (Python's hashlib); the first point
        // reads those 4 bytes little-endian: 0xb2d36736.
        let ring = Ring::new(&[RingServer {
            host: "cache-a".into(),
            port: 11212,
            weight: 1,
        }]);
        assert_eq!(ring.points().len(), 160);
        let first = le32(&Md5::digest(b"cache-a:11212-0")[..4]);
        assert!(ring.points().iter().any(|p| p.value == first));
        assert_eq!(first, 0xb2d3_6736);
        assert_eq!(first, 3_000_198_966);
    }

    #[test]
    fn node_list_ring_uses_host_names_in_list_order() {
        let nodes = NodeList::new([
            Node::new("10.0.1.2", "", 11211).unwrap(),
            Node::new("10.0.1.1", "192.168.0.1", 11211).unwrap(),
        ])
        .unwrap();
        let ring = Ring::from_nodes(&nodes);
        assert_eq!(ring.server_count(), 2);
        assert_eq!(ring.points().len(), 320);
        let manual = Ring::new(&[
            RingServer {
                host: "10.0.1.1".into(),
                port: 11211,
                weight: 1,
            },
            RingServer {
                host: "10.0.1.2".into(),
                port: 11211,
                weight: 1,
            },
        ]);
        assert_eq!(ring.points(), manual.points());
    }

    #[test]
    fn empty_and_single_server_rings() {
        let empty = Ring::new(&[]);
        assert_eq!(empty.lookup(b"k"), None);
        let one = Ring::new(&[RingServer {
            host: "a".into(),
            port: 1,
            weight: 0,
        }]);
        assert_eq!(one.lookup(b"anything"), Some(0));
        assert_eq!(one.points().len(), 160);
    }

    #[test]
    fn adding_a_server_moves_about_its_share_of_keys() {
        let mk = |n: usize| {
            let servers: Vec<RingServer> = (0..n)
                .map(|i| RingServer {
                    host: format!("node-{i}"),
                    port: 11211,
                    weight: 1,
                })
                .collect();
            Ring::new(&servers)
        };
        let (four, five) = (mk(4), mk(5));
        let keys: Vec<String> = (0..2000).map(|i| format!("key:{i}")).collect();
        let moved = keys
            .iter()
            .filter(|k| four.lookup(k.as_bytes()) != five.lookup(k.as_bytes()))
            .count();
        // Ideal is 1/5 = 400; every moved key must have moved to the new server.
        assert!((250..=550).contains(&moved), "moved {moved}");
        assert!(keys.iter().all(|k| {
            let (a, b) = (four.lookup(k.as_bytes()), five.lookup(k.as_bytes()));
            a == b || b == Some(4)
        }));
    }
}
