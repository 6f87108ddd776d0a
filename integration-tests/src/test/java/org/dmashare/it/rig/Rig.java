package org.dmashare.it.rig;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.dmashare.Hex;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Translation;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.params.provider.Arguments;

/**
 * Test rig: one memory, IOMMUs with one domain and one device (stream 0) each, and checks that
 * read the page tables back from memory (the hardware side). A domain is named by
 * {@code backend:variant} ({@code apple-dart:t8020}) or by a generic variant alone ({@code lpae-4k});
 * backends are found with ServiceLoader, so the same tests run on every backend.
 */
public final class Rig {
    public static final long RAM_BASE = 0x8_0000_0000L;

    public final PhysicalMemory memory;
    public final DmaSharing sharing;
    public final List<IommuDomain> domains = new ArrayList<>();

    public Rig(long ramSize, int pageSize, String... variants) {
        this(PhysicalMemory.create(RAM_BASE, ramSize, pageSize), variants);
    }

    private Rig(PhysicalMemory memory, String... variants) {
        this.memory = memory;
        sharing = new DmaSharing(memory);
        for (String v : variants) {
            addDomain(v, 0);
        }
    }

    /** A rig whose memory keeps per-CPU page lists and whose domains keep per-CPU IOVA caches. */
    public static Rig withPageCaches(long ramSize, int pageSize, String... variants) {
        return new Rig(PhysicalMemory.withPageCaches(RAM_BASE, ramSize, pageSize), variants);
    }

    public Rig(String... variants) {
        this(1L << 30, 4096, variants);
    }

    /**
     * Adds an IOMMU with one attached domain.
     *
     * @param spec {@code backend:variant}, or a generic variant
     * @param inputBits IOVA width, 0 for the default (48 for generic, the variant's for others)
     */
    public IommuDomain addDomain(String spec, int inputBits) {
        int colon = spec.indexOf(':');
        String backend = colon < 0 ? "generic" : spec.substring(0, colon);
        String variant = spec.substring(colon + 1);
        int bits = inputBits != 0 ? inputBits : backend.equals("generic") ? 48 : 0;
        Iommu iommu = IommuBackends.find(backend)
                .create(
                        IommuConfig.builder(variant)
                                .name(variant + "#" + domains.size())
                                .inputBits(bits)
                                .build(),
                        memory);
        IommuDomain d = iommu.createDomain();
        iommu.device(0).attach(d);
        domains.add(d);
        return d;
    }

    /** Pairs of domains every pairwise test runs on: generic, DART, and mixed. */
    public static Stream<Arguments> pairs() {
        return Stream.of(
                Arguments.of((Object) new String[] {"lpae-4k", "lpae-16k"}),
                Arguments.of((Object) new String[] {"apple-dart:t8020", "apple-dart:t6000"}),
                Arguments.of((Object) new String[] {"apple-dart:t8110", "lpae-4k"}));
    }

    /** Trios of domains every three-domain test runs on: generic, DART, and mixed with the flat example backend. */
    public static Stream<Arguments> trios() {
        return Stream.of(
                Arguments.of((Object) new String[] {"lpae-4k", "lpae-16k", "lpae-64k"}),
                Arguments.of((Object) new String[] {"apple-dart:t8020", "apple-dart:t6000", "apple-dart:t8110"}),
                Arguments.of((Object) new String[] {"apple-dart:t8020", "lpae-4k", "flat:flat-64k"}));
    }

    /** The lease's pages cut into {@code unit}-sized segments, in address order (the lease's blocks are multiples of unit). */
    public static List<ScatterList.Segment> chop(PageLease lease, long unit) {
        List<ScatterList.Segment> out = new ArrayList<>();
        for (ScatterList.Segment b : lease.pages()) {
            for (long o = 0; o < b.length(); o += unit) {
                out.add(new ScatterList.Segment(b.pa() + o, unit));
            }
        }
        return out;
    }

    /** The first {@code n} {@code unit}-sized pieces of the lease's pages, last piece first (so no two neighbours merge). */
    public static ScatterList lentSegments(PageLease lease, long unit, int n) {
        List<ScatterList.Segment> all = chop(lease, unit);
        List<ScatterList.Segment> out = new ArrayList<>();
        for (int i = n - 1; i >= 0; i--) {
            out.add(all.get(i));
        }
        return ScatterList.of(out);
    }

    public IommuDomain domain(int i) {
        return domains.get(i);
    }

    public static DmaDevice device(IommuDomain d) {
        return d.iommu().device(0);
    }

    public static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 131 + seed * 17 + (i >>> 12));
        }
        return b;
    }

    /** Guarantee 1: every byte of the range translates, by a walk of the tables, to byte o of the buffer. */
    public static void assertContiguous(SharedBuffer buffer, IommuDomain d) {
        long iova = buffer.iova(d);
        long step = 0x1000;
        for (long o = 0; o < buffer.length(); o += step) {
            Translation t = d.iommu().walk(0, iova + o).orElse(null);
            assertThat(t)
                    .as("walk of IOVA %s (offset %s) in %s", Hex.of(iova + o), Hex.of(o), d)
                    .isNotNull();
            assertThat(t.pa())
                    .as("IOVA %s (offset %s) in %s", Hex.of(iova + o), Hex.of(o), d)
                    .isEqualTo(buffer.physicalAddress(o));
            assertThat(t.pa() + step - 1).isEqualTo(buffer.physicalAddress(o + step - 1));
        }
    }

    /** Guarantee 2: IOVA, blocks and length are multiples of A. */
    public static void assertAligned(SharedBuffer buffer) {
        long a = buffer.alignment();
        assertThat(buffer.length() % a).isZero();
        for (ScatterList.Segment s : buffer.blocks()) {
            assertThat(s.pa() % a).as("block %s aligned to %s", s, Hex.of(a)).isZero();
            assertThat(s.length() % a)
                    .as("block %s length multiple of %s", s, Hex.of(a))
                    .isZero();
        }
        for (SharedBuffer.Mapping m : buffer.mappings()) {
            assertThat(m.iova() % a)
                    .as("IOVA in %s aligned to %s", m.domain(), Hex.of(a))
                    .isZero();
        }
    }

    /** Every valid leaf of the domain's tables, read from memory. */
    public static List<Translation> leaves(IommuDomain d) {
        PagingDomain p = (PagingDomain) d;
        return PageTableWalker.leaves(
                d.iommu().memory(), p.table().format(), p.table().rootPa());
    }

    /**
     * Guarantee 3: every byte reachable through the domain belongs to a live buffer's own blocks,
     * at that buffer's own offset.
     */
    public static void assertNoOverExposure(IommuDomain d, List<SharedBuffer> live) {
        for (Translation leaf : leaves(d)) {
            SharedBuffer owner = null;
            for (SharedBuffer b : live) {
                if (b.isMappedIn(d)
                        && leaf.iova() >= b.iova(d)
                        && leaf.iova() + leaf.pageSize() <= b.iova(d) + b.length()) {
                    owner = b;
                }
            }
            assertThat(owner)
                    .as("leaf %s in %s belongs to a live buffer's range", leaf, d)
                    .isNotNull();
            long offset = leaf.iova() - owner.iova(d);
            assertThat(leaf.pa())
                    .as("leaf %s maps the buffer's own bytes", leaf)
                    .isEqualTo(owner.physicalAddress(offset));
            assertThat(leaf.pa() + leaf.pageSize() - 1).isEqualTo(owner.physicalAddress(offset + leaf.pageSize() - 1));
        }
    }

    /**
     * Everything a failed operation must leave as it was, with each domain's table lifetime taken
     * into account: the allocator's pages other than table pages, the bytes of buffers, every IOVA
     * allocator, every leaf a device can reach in each domain (read from memory), and the table
     * bytes no open domain of the rig accounts for (a leaked table page shows there). Table pages
     * that a domain keeps under its format's {@link org.dmashare.pgtable.TableLifetime}, mapping
     * nothing, are not a difference: Linux's iommu_map unwinds with iommu_unmap, which keeps them
     * as the format does, and the helper's rollback does the same.
     *
     * @param blocks the allocator's live blocks, table pages left out
     * @param bufferBytes the allocator's buffer bytes
     * @param iovas per domain, its IOVA allocator
     * @param leaves per domain, the leaves reachable from its top table
     * @param unaccountedTableBytes table bytes in use that no open domain of the rig holds
     */
    public record State(
            List<PageAllocator.Block> blocks,
            long bufferBytes,
            Map<String, IovaAllocator.Snapshot> iovas,
            Map<String, List<Translation>> leaves,
            long unaccountedTableBytes) {}

    public State state() {
        Map<String, IovaAllocator.Snapshot> iovas = new LinkedHashMap<>();
        Map<String, List<Translation>> leaves = new LinkedHashMap<>();
        Map<Long, Long> tablePages = new HashMap<>(); // CPU page -> bytes reserved there
        long pageSize = memory.pageSize();
        for (IommuDomain d : domains) {
            iovas.put(d.iommu().name(), d.iovaSpace().snapshot());
            if (d.isClosed()) {
                leaves.put(d.iommu().name(), List.of());
                continue;
            }
            PagingDomain p = (PagingDomain) d;
            synchronized (p.table().lock()) {
                leaves.put(
                        d.iommu().name(),
                        PageTableWalker.leaves(
                                memory,
                                p.table().format(),
                                p.table().rootPa(),
                                p.table().topLevel()));
                for (long pa : p.table().tablePages()) {
                    long bytes = p.table().tableBytes(pa);
                    if (bytes < pageSize) {
                        tablePages.put(pa & -pageSize, pageSize); // a piece of a slab page, reserved whole
                    } else {
                        tablePages.put(pa, bytes);
                    }
                }
            }
        }
        long accounted = tablePages.values().stream().mapToLong(Long::longValue).sum();
        PageAllocator.Usage usage = memory.allocator().usage();
        List<PageAllocator.Block> blocks = memory.allocator().allocatedBlocks().stream()
                .filter(b -> b.use() != PageUse.PAGE_TABLE)
                .toList();
        return new State(blocks, usage.bufferBytes(), iovas, leaves, usage.tableBytes() - accounted);
    }
}
