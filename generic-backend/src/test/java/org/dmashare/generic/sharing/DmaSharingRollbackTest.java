package org.dmashare.generic.sharing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.dmashare.DmaShareException;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.FailureInjector.Point;
import org.dmashare.memory.PageUse;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Guarantee 4 (atomic), fail-nth style: every operation is run with the k-th event at a failure
 * point made to fail, for k = 1, 2, ... until the operation succeeds; after each failed run the
 * page allocator, every IOVA allocator and every page table are exactly as before.
 */
class DmaSharingRollbackTest {

    /** Three fresh domains of different granules over memory fragmented into 64 KiB holes. */
    private static Rig fragmentedRig() {
        Rig rig = new Rig(16L << 20, 4096, "lpae-4k", "lpae-16k", "lpae-64k");
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
                assertThat(failures.pending(point)).as("run %d failed for another reason: %s", k, e).isFalse();
                assertThat(rig.state()).as("state after failing at %s #%d (%s)", point, k, e.getMessage())
                        .isEqualTo(before);
                failed++;
                continue;
            } finally {
                failures.clear();
            }
            assertThat(failures.pending(point)).isFalse();
            undo.accept(result);
            System.out.printf("fail-nth at %s: %d failing runs unwound, success at k=%d%n", point, failed, k);
            return failed;
        }
        throw new AssertionError("operation never succeeded");
    }

    @ParameterizedTest
    @EnumSource(Point.class)
    void threeDomainAllocationUnwindsCompletelyWhereverItFails(Point point) {
        Rig rig = fragmentedRig();
        Rig.State initial = rig.state();
        int failed = failEveryNth(rig, point, () -> rig.sharing.allocate(0x5_0000, rig.domains), SharedBuffer::close);
        assertThat(failed).as("runs that failed at %s", point).isGreaterThanOrEqualTo(point == Point.IOVA_ALLOCATION ? 3 : 1);
        assertThat(rig.state()).isEqualTo(initial);
    }

    @ParameterizedTest
    @EnumSource(Point.class)
    void identicalIovaAllocationUnwindsCompletelyWhereverItFails(Point point) {
        Rig rig = fragmentedRig();
        Rig.State initial = rig.state();
        ShareOptions opts = ShareOptions.builder().identicalIova(true).build();
        int failed = failEveryNth(rig, point, () -> rig.sharing.allocate(0x5_0000, rig.domains, opts), SharedBuffer::close);
        assertThat(failed).isGreaterThanOrEqualTo(1);
        assertThat(rig.state()).isEqualTo(initial);
    }

    @ParameterizedTest
    @EnumSource(value = Point.class, names = {"TABLE_PAGE_ALLOCATION", "IOVA_ALLOCATION", "MAP"})
    void lateSharingUnwindsCompletelyWhereverItFails(Point point) {
        Rig rig = fragmentedRig();
        ShareOptions opts = ShareOptions.builder().futureDomains(rig.domain(2)).build();
        try (SharedBuffer b = rig.sharing.allocate(0x5_0000, List.of(rig.domain(0), rig.domain(1)), opts)) {
            int failed = failEveryNth(rig, point, () -> b.shareWith(rig.domain(2)), iova -> b.unshare(rig.domain(2)));
            assertThat(failed).isGreaterThanOrEqualTo(1);
            assertThat(b.mappings()).hasSize(2);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Point.class, names = {"TABLE_PAGE_ALLOCATION", "IOVA_ALLOCATION", "MAP"})
    void importUnwindsCompletelyWhereverItFails(Point point) {
        Rig rig = fragmentedRig();
        List<ScatterList.Segment> segs = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            segs.add(new ScatterList.Segment(rig.memory.allocator().allocate(0x1_0000, PageUse.BUFFER), 0x1_0000));
        }
        ScatterList list = ScatterList.of(segs);
        Rig.State initial = rig.state();
        int failed = failEveryNth(rig, point, () -> rig.sharing.importScatterList(list, rig.domains, ShareOptions.DEFAULTS),
                SharedBuffer::close);
        assertThat(failed).isGreaterThanOrEqualTo(1);
        assertThat(rig.state()).isEqualTo(initial);
    }
}
