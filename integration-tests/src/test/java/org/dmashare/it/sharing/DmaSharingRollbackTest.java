package org.dmashare.it.sharing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.dmashare.DmaShareException;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.it.rig.Rig;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.FailureInjector.Point;
import org.dmashare.memory.PageUse;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Guarantee 4 (atomic), fail-nth style: every operation is run with the k-th event at a failure
 * point made to fail, for k = 1, 2, ... until the operation succeeds; after each failed run the
 * page allocator, every IOVA allocator and every page table are exactly as before.
 */
class DmaSharingRollbackTest {

    /** Every failure point on every domain trio (generic, DART, mixed). */
    static Stream<Arguments> everyPointOnEveryTrio() {
        return Rig.trios().flatMap(set -> Stream.of(Point.values()).map(p -> Arguments.of(p, set.get()[0])));
    }

    /** The points a late share or an import can fail at (they allocate no buffer pages). */
    static Stream<Arguments> mappingPointsOnEveryTrio() {
        return everyPointOnEveryTrio().filter(a -> a.get()[0] != Point.PAGE_ALLOCATION);
    }

    /** Three fresh domains over memory fragmented into 64 KiB holes. */
    private static Rig fragmentedRig(String[] set) {
        Rig rig = new Rig(16L << 20, 4096, set);
        List<Long> taken = new ArrayList<>();
        while (rig.memory.allocator().largestFreeBlock() >= 0x1_0000) {
            taken.add(rig.memory.allocator().allocate(0x1_0000, PageUse.BUFFER));
        }
        for (int i = 0; i < taken.size(); i += 2) {
            rig.memory.allocator().free(taken.get(i), 0x1_0000);
        }
        return rig;
    }

    /**
     * Runs {@code op} with the k-th event at {@code point} failing for every k until it succeeds,
     * checking the state after each failure; then calls {@code undo} on the success and returns
     * how many runs failed.
     */
    private static <T> int failEveryNth(Rig rig, Point point, Supplier<T> op, Consumer<T> undo) {
        FailureInjector failures = rig.memory.failures();
        int failed = 0;
        for (int k = 1; k < 1000; k++) {
            Rig.State before = rig.state();
            failures.failNth(point, k);
            T result;
            try {
                result = op.get();
            } catch (DmaShareException e) {
                assertThat(failures.pending(point))
                        .as("run %d failed for another reason: %s", k, e)
                        .isFalse();
                assertThat(rig.state())
                        .as("state after failing at %s #%d (%s)", point, k, e.getMessage())
                        .isEqualTo(before);
                failed++;
                continue;
            } finally {
                failures.clear();
            }
            assertThat(failures.pending(point)).isFalse();
            undo.accept(result);
            System.out.printf(
                    "fail-nth at %s on %s: %d failing runs unwound, success at k=%d%n", point, rig.domains, failed, k);
            return failed;
        }
        throw new AssertionError("operation never succeeded");
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("everyPointOnEveryTrio")
    void threeDomainAllocationUnwindsCompletelyWhereverItFails(Point point, String[] set) {
        Rig rig = fragmentedRig(set);
        Rig.State initial = rig.state();
        int failed = failEveryNth(rig, point, () -> rig.sharing.allocate(0x5_0000, rig.domains), SharedBuffer::close);
        assertThat(failed)
                .as("runs that failed at %s", point)
                .isGreaterThanOrEqualTo(point == Point.IOVA_ALLOCATION ? 3 : 1);
        assertThat(rig.state()).isEqualTo(initial);
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("everyPointOnEveryTrio")
    void identicalIovaAllocationUnwindsCompletelyWhereverItFails(Point point, String[] set) {
        Rig rig = fragmentedRig(set);
        Rig.State initial = rig.state();
        ShareOptions opts = ShareOptions.builder().identicalIova(true).build();
        int failed =
                failEveryNth(rig, point, () -> rig.sharing.allocate(0x5_0000, rig.domains, opts), SharedBuffer::close);
        assertThat(failed).isGreaterThanOrEqualTo(1);
        assertThat(rig.state()).isEqualTo(initial);
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mappingPointsOnEveryTrio")
    void lateSharingUnwindsCompletelyWhereverItFails(Point point, String[] set) {
        Rig rig = fragmentedRig(set);
        ShareOptions opts = ShareOptions.builder().futureDomains(rig.domain(2)).build();
        try (SharedBuffer b = rig.sharing.allocate(0x5_0000, List.of(rig.domain(0), rig.domain(1)), opts)) {
            int failed = failEveryNth(rig, point, () -> b.shareWith(rig.domain(2)), iova -> b.unshare(rig.domain(2)));
            // a single-level table (the flat backend) has its only table already: nothing to fail there
            boolean needsTables =
                    ((PagingDomain) rig.domain(2)).table().format().levels() > 1;
            assertThat(failed).isGreaterThanOrEqualTo(point == Point.TABLE_PAGE_ALLOCATION && !needsTables ? 0 : 1);
            assertThat(b.mappings()).hasSize(2);
        }
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mappingPointsOnEveryTrio")
    void importUnwindsCompletelyWhereverItFails(Point point, String[] set) {
        Rig rig = fragmentedRig(set);
        PageLease lease = rig.sharing.allocatePages(4 * 0x1_0000, 0x1_0000);
        ScatterList list = Rig.lentSegments(lease, 0x1_0000, 4);
        Rig.State initial = rig.state();
        int failed = failEveryNth(
                rig,
                point,
                () -> rig.sharing.importScatterList(lease, list, rig.domains, ShareOptions.DEFAULTS),
                SharedBuffer::close);
        assertThat(failed).isGreaterThanOrEqualTo(1);
        assertThat(rig.state()).isEqualTo(initial);
    }
}
