package org.dmashare.it.sharing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.dmashare.InvalidArgumentException;
import org.dmashare.ObjectClosedException;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.it.rig.Rig;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;

/**
 * Pinning (guarantee 8) and IOVA quarantine: who holds pages, when they go back to the page
 * allocator, and what a device that keeps a stale IOVA meets, with and without quarantine.
 */
class DmaSharingPinningTest {
    private final Rig rig = new Rig(64L << 20, 4096, "lpae-4k", "apple-dart:t8020");
    private final IommuDomain a = rig.domain(0);
    private final IommuDomain b = rig.domain(1);

    /** Every order of closing an owner, two leases and two importers returns every page, and only the last close does. */
    @Test
    void everyCloseOrderOfOwnerLeasesAndImportersReturnsEveryPageAtTheLastClose() {
        Rig.State initial = rig.state();
        int[] order = {0, 1, 2, 3, 4};
        int orders = 0;
        do {
            SharedBuffer owner = rig.sharing.allocate(0x8000, List.of(a));
            byte[] data = Rig.pattern(0x8000, orders);
            owner.write(0, data);
            long pa = owner.physicalAddress(0);
            PageLease first = owner.export();
            SharedBuffer importer1 =
                    rig.sharing.importScatterList(first, owner.blocks(), List.of(b), ShareOptions.DEFAULTS);
            PageLease second = importer1.export();
            SharedBuffer importer2 =
                    rig.sharing.importScatterList(second, owner.blocks(), List.of(a), ShareOptions.DEFAULTS);
            List<AutoCloseable> holders = List.of(owner, first, importer1, second, importer2);
            for (int i = 0; i < order.length; i++) {
                assertThat(rig.memory.allocator().holding(pa))
                        .as("held before close %d of order %s", i, List.of(order))
                        .isNotNull();
                close(holders.get(order[i]));
                for (SharedBuffer open : List.of(owner, importer1, importer2)) {
                    if (!open.isClosed()) {
                        IommuDomain d = open.mappings().get(0).domain();
                        assertThat(Rig.device(d).read(open.iova(d), 64))
                                .as("an open holder's device still reads the data")
                                .isEqualTo(Arrays.copyOf(data, 64));
                    }
                }
            }
            assertThat(rig.state())
                    .as("after closing in order %s every page is back", List.of(order))
                    .isEqualTo(initial);
            orders++;
        } while (nextPermutation(order));
        assertThat(orders).isEqualTo(120);
    }

    @Test
    void ownerCloseUnmapsOnlyTheOwnersMappings() {
        SharedBuffer owner = rig.sharing.allocate(0x4000, List.of(a));
        long ownerIova = owner.iova(a);
        SharedBuffer importer;
        try (PageLease lease = owner.export()) {
            importer = rig.sharing.importScatterList(lease, owner.blocks(), List.of(b), ShareOptions.DEFAULTS);
        }
        owner.write(0, new byte[] {42});
        owner.close();
        assertThatThrownBy(() -> Rig.device(a).read(ownerIova, 1)).isInstanceOf(DeviceFaultException.class);
        a.iommu().clearFaults();
        assertThat(Rig.device(b).read(importer.iova(b), 1)).containsExactly(42);
        importer.close();
    }

    @Test
    void closedBuffersAndLeasesLendNothing() {
        SharedBuffer owner = rig.sharing.allocate(0x4000, List.of(a));
        PageLease lease = owner.export();
        lease.close();
        lease.close(); // twice is harmless
        Rig.State before = rig.state();
        assertThatThrownBy(
                        () -> rig.sharing.importScatterList(lease, owner.blocks(), List.of(b), ShareOptions.DEFAULTS))
                .isExactlyInstanceOf(ObjectClosedException.class)
                .hasMessageContaining("lease is closed");
        owner.close();
        assertThatThrownBy(owner::export).isExactlyInstanceOf(ObjectClosedException.class);
        assertThat(rig.memory.allocator().usage().bufferBytes()).isEqualTo(before.bufferBytes() - 0x4000);
    }

    @Test
    void withoutQuarantineAClosedBuffersIovaIsHandedOutAgainAtOnceAndAStaleAccessReachesTheNextBuffer() {
        SharedBuffer first = rig.sharing.allocate(0x4000, List.of(b));
        long stale = first.iova(b);
        first.close();
        assertThatThrownBy(() -> Rig.device(b).read(stale, 1))
                .as("before reuse the stale IOVA faults")
                .isInstanceOf(DeviceFaultException.class);
        b.iommu().clearFaults();
        try (SharedBuffer next = rig.sharing.allocate(0x4000, List.of(b))) {
            next.write(0, new byte[] {7, 7, 7});
            assertThat(next.iova(b))
                    .as("the default: the freed range is the next one handed out")
                    .isEqualTo(stale);
            assertThat(Rig.device(b).read(stale, 3))
                    .as("the stale access silently reaches the next buffer")
                    .containsExactly(7, 7, 7);
            assertThat(b.iommu().faults()).isEmpty();
        }
    }

    @Test
    void quarantineKeepsTheLastRangesOutOfUseUntilEvictedOrDrained() {
        DmaSharing sharing = new DmaSharing(rig.memory, 2);
        var initial = b.iovaSpace().snapshot();
        List<Long> freed = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            SharedBuffer x = sharing.allocate(0x4000, List.of(b));
            freed.add(x.iova(b));
            x.close();
            assertThat(sharing.quarantinedRanges(b)).isEqualTo(Math.min(i + 1, 2));
        }
        assertThat(freed).as("no quarantined range is handed out again").doesNotHaveDuplicates();
        assertThat(b.iovaSpace().isFree(freed.get(0), 0x4000))
                .as("the oldest was evicted by the third")
                .isTrue();
        assertThat(b.iovaSpace().isFree(freed.get(1), 0x4000)).isFalse();
        assertThat(b.iovaSpace().isFree(freed.get(2), 0x4000)).isFalse();
        for (long stale : freed.subList(1, 3)) {
            assertThatThrownBy(() -> Rig.device(b).read(stale, 1))
                    .isInstanceOf(DeviceFaultException.class)
                    .satisfies(
                            x -> assertThat(((DeviceFaultException) x).fault().reason())
                                    .isEqualTo(IommuFault.Reason.TRANSLATION));
        }
        assertThat(b.iommu().faults()).as("each stale access is logged").hasSize(2);
        b.iommu().clearFaults();
        sharing.drainIovaQuarantine();
        assertThat(sharing.quarantinedRanges(b)).isZero();
        assertThat(b.iovaSpace().snapshot()).as("drained: every range back").isEqualTo(initial);
    }

    @Test
    void quarantineIsOffByDefaultAndRefusesANegativeDepth() {
        assertThat(rig.sharing.iovaQuarantineDepth()).isZero();
        assertThatThrownBy(() -> new DmaSharing(rig.memory, -1))
                .isExactlyInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("-1");
    }

    private static void close(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Next lexicographic permutation in place; false after the last. */
    private static boolean nextPermutation(int[] p) {
        int i = p.length - 2;
        while (i >= 0 && p[i] >= p[i + 1]) {
            i--;
        }
        if (i < 0) {
            return false;
        }
        int j = p.length - 1;
        while (p[j] <= p[i]) {
            j--;
        }
        int t = p[i];
        p[i] = p[j];
        p[j] = t;
        for (int l = i + 1, r = p.length - 1; l < r; l++, r--) {
            t = p[l];
            p[l] = p[r];
            p[r] = t;
        }
        return true;
    }
}
