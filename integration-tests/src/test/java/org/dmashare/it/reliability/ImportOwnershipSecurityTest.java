package org.dmashare.it.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.dmashare.Hex;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.it.rig.Rig;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;

/**
 * Guarantee 8, safe import, against the four attacks a new user found (issue 12), on
 * {@code lpae-4k} and two {@code t8020} DARTs ({@code d} and {@code e}) over 64 MiB at
 * {@code 0x8_0000_0000}. Each attack worked with the import that checked alignment and bounds
 * only; each test here shows the hole closed: the import is refused naming the segment and what
 * holds its pages, nothing changes, and no device reaches a byte it was not lent.
 */
class ImportOwnershipSecurityTest {
    private static final byte[] SECRET = "SECRET of the victim buffer".getBytes(StandardCharsets.US_ASCII);

    private final Rig rig = new Rig(64L << 20, 4096, "lpae-4k", "apple-dart:t8020", "apple-dart:t8020");
    private final IommuDomain lpae = rig.domain(0);
    private final IommuDomain d = rig.domain(1);
    private final IommuDomain e = rig.domain(2);

    @Test
    void importOfFreePagesIsRefusedSoTheirNextOwnersSecretStaysUnreachable() {
        long free = 0x8_0200_0000L;
        assertThat(rig.memory.allocator().holding(free))
                .as("the attacked pages are free")
                .isNull();
        try (PageLease attacker = rig.sharing.allocatePages(0x4000, 0x4000)) {
            Rig.State before = rig.state();
            assertThatThrownBy(() -> rig.sharing.importScatterList(
                            attacker,
                            ScatterList.of(new ScatterList.Segment(free, 0x4000)),
                            List.of(e),
                            ShareOptions.DEFAULTS))
                    .isExactlyInstanceOf(UnsafeScatterListException.class)
                    .hasMessageContaining("segment 0 [" + Hex.of(free))
                    .hasMessageContaining("is free")
                    .satisfies(x -> assertThat(((UnsafeScatterListException) x).segmentIndex())
                            .isZero());
            assertThat(rig.state()).as("a refused import changes nothing").isEqualTo(before);
        }
        // the victim's buffer lands on those pages; device e has no way to them
        List<SharedBuffer> victims = new ArrayList<>();
        SharedBuffer victim = null;
        while (victim == null) {
            SharedBuffer b = rig.sharing.allocate(0x4000, List.of(d));
            victims.add(b);
            if (b.physicalAddress(0) == free) {
                victim = b;
            }
        }
        victim.write(0, SECRET);
        assertThat(Rig.leaves(e)).as("device e was given nothing").isEmpty();
        victims.forEach(SharedBuffer::close);
    }

    @Test
    void closingTheOwnerKeepsPagesPinnedByAnImportSoTheNextOwnersDataIsNeverReachable() {
        long baseline = rig.memory.allocator().usage().bufferBytes();
        SharedBuffer owner = rig.sharing.allocate(0x4000, List.of(d));
        byte[] ownerData = "the owner's own data".getBytes(StandardCharsets.US_ASCII);
        owner.write(0, ownerData);
        long pa = owner.physicalAddress(0);
        long ownerIova = owner.iova(d);
        SharedBuffer imported;
        long holder;
        try (PageLease lease = owner.export()) {
            holder = lease.holder();
            imported = rig.sharing.importScatterList(lease, owner.blocks(), List.of(e), ShareOptions.DEFAULTS);
        }
        owner.close();
        assertThatThrownBy(() -> Rig.device(d).read(ownerIova, 1))
                .as("the owner's own mapping is gone")
                .isInstanceOf(DeviceFaultException.class);
        d.iommu().clearFaults();
        assertThat(rig.memory.allocator().holding(pa))
                .as("the import pins the pages after the owner closed")
                .isEqualTo(new PageAllocator.Holding(pa, 0x4000, PageUse.BUFFER, holder));
        List<SharedBuffer> next = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            SharedBuffer b = rig.sharing.allocate(0x4000, List.of(d));
            b.write(0, SECRET);
            assertThat(b.physicalAddress(0))
                    .as("a pinned page is never handed to another owner")
                    .isNotEqualTo(pa);
            next.add(b);
        }
        byte[] seen = Rig.device(e).read(imported.iova(e), ownerData.length);
        assertThat(seen)
                .as("device e still reads the pages it was lent, not a new owner's")
                .isEqualTo(ownerData);
        imported.close();
        assertThat(rig.memory.allocator().holding(pa))
                .as("the last holder closed: the pages are free")
                .isNull();
        next.forEach(SharedBuffer::close);
        assertThat(rig.memory.allocator().usage().bufferBytes())
                .as("every page returned")
                .isEqualTo(baseline);
    }

    @Test
    void anotherOwnersPagesAreRefusedWithoutItsLeaseNamingTheirHolder() {
        try (SharedBuffer victim = rig.sharing.allocate(0x4000, List.of(d));
                PageLease attacker = rig.sharing.allocatePages(0x4000, 0x4000)) {
            long victimHolder =
                    rig.memory.allocator().holding(victim.physicalAddress(0)).holder();
            Rig.State before = rig.state();
            assertThatThrownBy(() ->
                            rig.sharing.importScatterList(attacker, victim.blocks(), List.of(e), ShareOptions.DEFAULTS))
                    .isExactlyInstanceOf(UnsafeScatterListException.class)
                    .hasMessageContaining("segment 0")
                    .hasMessageContaining("holder #" + victimHolder + "'s BUFFER block")
                    .hasMessageContaining("not lent");
            assertThat(rig.state()).isEqualTo(before);
        }
    }

    @Test
    void pageTablePagesAreRefusedSoADeviceCannotRewriteItsOwnTranslations() {
        try (SharedBuffer mapped = rig.sharing.allocate(0x4000, List.of(lpae, d));
                PageLease attacker = rig.sharing.allocatePages(0x1000, 0)) {
            List<PageAllocator.Block> tables = rig.memory.allocator().allocatedBlocks().stream()
                    .filter(b -> b.use() == PageUse.PAGE_TABLE)
                    .toList();
            assertThat(tables)
                    .as("the domains' tables, the leaf table of lpae-4k among them")
                    .isNotEmpty();
            Rig.State before = rig.state();
            for (PageAllocator.Block t : tables) {
                assertThatThrownBy(() -> rig.sharing.importScatterList(
                                attacker,
                                ScatterList.of(new ScatterList.Segment(t.pa(), 0x1000)),
                                List.of(lpae),
                                ShareOptions.DEFAULTS))
                        .as("import of table page %s", t)
                        .isExactlyInstanceOf(UnsafeScatterListException.class)
                        .hasMessageContaining("segment 0")
                        .hasMessageContaining("page-table block");
            }
            assertThat(rig.state()).isEqualTo(before);
            assertThat(mapped.read(0, 16)).isEqualTo(new byte[16]);
        }
    }

    @Test
    void repeatedAndOverlappingSegmentsAreRefusedNamingTheLaterSegment() {
        try (PageLease lease = rig.sharing.allocatePages(0x1_0000, 0x4000)) {
            long p = lease.pages().segments().get(0).pa();
            Rig.State before = rig.state();
            assertRefused(lease, 2, "repeats segment 0", seg(p, 0x4000), seg(p + 0x4000, 0x4000), seg(p, 0x4000));
            assertRefused(lease, 1, "overlaps segment 0", seg(p, 0x8000), seg(p + 0x4000, 0x4000));
            assertRefused(lease, 1, "overlaps segment 0", seg(p + 0x8000, 0x4000), seg(p, 0xC000));
            assertRefused(
                    lease, 2, "overlaps segment 1", seg(p, 0x4000), seg(p + 0x8000, 0x8000), seg(p + 0xC000, 0x4000));
            assertThat(rig.state()).isEqualTo(before);
            // the same pages without the overlap import fine
            try (SharedBuffer ok = rig.sharing.importScatterList(
                    lease,
                    ScatterList.of(seg(p + 0x8000, 0x8000), seg(p, 0x8000)),
                    List.of(e),
                    ShareOptions.DEFAULTS)) {
                assertThat(ok.physicalAddress(0)).isEqualTo(p + 0x8000);
            }
        }
    }

    @Test
    void segmentOutsideMemoryIsRefusedAsUnsafeNamingIt() {
        try (PageLease lease = rig.sharing.allocatePages(0x4000, 0x4000)) {
            long p = lease.pages().segments().get(0).pa();
            assertRefused(lease, 1, "outside memory", seg(p, 0x4000), seg(Rig.RAM_BASE + (64L << 20), 0x4000));
        }
    }

    @Test
    void aStaleDeviceAccessAfterCloseFaultsWithTranslationWhileQuarantined() {
        var quarantined = new DmaSharing(rig.memory, 4);
        SharedBuffer first = quarantined.allocate(0x4000, List.of(d));
        long stale = first.iova(d);
        first.close();
        try (SharedBuffer next = quarantined.allocate(0x4000, List.of(d))) {
            next.write(0, SECRET);
            assertThat(next.iova(d))
                    .as("the quarantined IOVA is not handed out again")
                    .isNotEqualTo(stale);
            assertThatThrownBy(() -> Rig.device(d).read(stale, SECRET.length))
                    .isInstanceOf(DeviceFaultException.class)
                    .satisfies(
                            x -> assertThat(((DeviceFaultException) x).fault().reason())
                                    .isEqualTo(IommuFault.Reason.TRANSLATION));
            assertThat(d.iommu().faults())
                    .as("the stale access is logged")
                    .anySatisfy(f -> assertThat(f.iova()).isEqualTo(stale));
            d.iommu().clearFaults();
        }
        quarantined.drainIovaQuarantine();
    }

    private void assertRefused(PageLease lease, int index, String why, ScatterList.Segment... segments) {
        assertThatThrownBy(() -> rig.sharing.importScatterList(
                        lease, ScatterList.of(Arrays.asList(segments)), List.of(e), ShareOptions.DEFAULTS))
                .as("import of %s", Arrays.toString(segments))
                .isExactlyInstanceOf(UnsafeScatterListException.class)
                .hasMessageContaining("segment " + index + " " + segments[index])
                .hasMessageContaining(why)
                .satisfies(x -> assertThat(((UnsafeScatterListException) x).segmentIndex())
                        .isEqualTo(index));
    }

    private static ScatterList.Segment seg(long pa, long length) {
        return new ScatterList.Segment(pa, length);
    }
}
