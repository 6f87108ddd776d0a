package org.dmashare.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.InvalidArgumentException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.MappingConflictException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.memory.FailureInjector.Point;
import org.junit.jupiter.api.Test;

class FailureInjectorTest {
    private static final long BASE = 0x8_0000_0000L;

    private final PhysicalMemory memory = PhysicalMemory.create(BASE, 1L << 20, 4096);
    private final FailureInjector failures = memory.failures();

    @Test
    void failNthFiresExactlyOnceAtTheNthEvent() {
        failures.failNth(Point.PAGE_ALLOCATION, 3);
        assertThat(failures.pending(Point.PAGE_ALLOCATION)).isTrue();
        failures.check(Point.PAGE_ALLOCATION);
        failures.check(Point.PAGE_ALLOCATION);
        assertThat(failures.pending(Point.PAGE_ALLOCATION)).isTrue();
        assertThatThrownBy(() -> failures.check(Point.PAGE_ALLOCATION))
                .isInstanceOf(PhysicalMemoryExhaustedException.class)
                .hasMessageContaining("injected failure at PAGE_ALLOCATION");
        assertThat(failures.pending(Point.PAGE_ALLOCATION)).isFalse();
        for (int i = 0; i < 10; i++) {
            failures.check(Point.PAGE_ALLOCATION);
        }
        assertThat(failures.events(Point.PAGE_ALLOCATION)).isEqualTo(13);
    }

    @Test
    void eachPointFailsWithItsDocumentedExceptionType() {
        failures.failNth(Point.PAGE_ALLOCATION, 1);
        assertThatThrownBy(() -> failures.check(Point.PAGE_ALLOCATION))
                .isInstanceOf(PhysicalMemoryExhaustedException.class);
        failures.failNth(Point.TABLE_PAGE_ALLOCATION, 1);
        assertThatThrownBy(() -> failures.check(Point.TABLE_PAGE_ALLOCATION))
                .isInstanceOf(PhysicalMemoryExhaustedException.class);
        failures.failNth(Point.IOVA_ALLOCATION, 1);
        assertThatThrownBy(() -> failures.check(Point.IOVA_ALLOCATION)).isInstanceOf(IovaSpaceExhaustedException.class);
        failures.failNth(Point.MAP, 1);
        assertThatThrownBy(() -> failures.check(Point.MAP)).isInstanceOf(MappingConflictException.class);
    }

    @Test
    void armingOnePointLeavesTheOthersWorkingButCountsThem() {
        failures.failNth(Point.MAP, 1);
        assertThatCode(() -> failures.check(Point.IOVA_ALLOCATION)).doesNotThrowAnyException();
        assertThatCode(() -> failures.check(Point.PAGE_ALLOCATION)).doesNotThrowAnyException();
        assertThat(failures.events(Point.IOVA_ALLOCATION)).isEqualTo(1);
        assertThat(failures.pending(Point.MAP)).isTrue();
        assertThat(failures.pending(Point.IOVA_ALLOCATION)).isFalse();
    }

    @Test
    void failNthRestartsTheCountOfItsPoint() {
        failures.failNth(Point.MAP, 5);
        failures.check(Point.MAP);
        failures.check(Point.MAP);
        failures.failNth(Point.MAP, 2);
        assertThat(failures.events(Point.MAP)).isZero();
        failures.check(Point.MAP);
        assertThatThrownBy(() -> failures.check(Point.MAP)).isInstanceOf(MappingConflictException.class);
        assertThat(failures.events(Point.MAP)).isEqualTo(2);
    }

    @Test
    void clearDisarmsAndResetsCounters() {
        failures.failNth(Point.PAGE_ALLOCATION, 2);
        failures.failNth(Point.MAP, 1);
        failures.check(Point.PAGE_ALLOCATION);
        failures.clear();
        assertThat(failures.pending(Point.PAGE_ALLOCATION)).isFalse();
        assertThat(failures.pending(Point.MAP)).isFalse();
        assertThat(failures.events(Point.PAGE_ALLOCATION)).isZero();
        for (int i = 0; i < 3; i++) {
            failures.check(Point.PAGE_ALLOCATION);
            failures.check(Point.MAP);
        }
        assertThat(failures.events(Point.PAGE_ALLOCATION))
                .as("not counted while disarmed")
                .isZero();
    }

    @Test
    void failNthRejectsNonPositiveN() {
        assertThatThrownBy(() -> failures.failNth(Point.MAP, 0)).isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> failures.failNth(Point.MAP, -1)).isInstanceOf(InvalidArgumentException.class);
        assertThat(failures.pending(Point.MAP)).isFalse();
    }

    @Test
    void injectedPageAllocationFailureChangesNothingAndOnlyHitsItsUse() {
        PageAllocator a = memory.allocator();
        failures.failNth(Point.PAGE_ALLOCATION, 2);
        a.allocate(4096, PageUse.BUFFER);
        a.allocate(4096, PageUse.PAGE_TABLE); // a table page is another point
        PageAllocator.Usage before = a.usage();
        assertThatThrownBy(() -> a.allocate(4096, PageUse.BUFFER)).isInstanceOf(PhysicalMemoryExhaustedException.class);
        assertThat(a.usage()).isEqualTo(before);
        assertThat(a.allocate(4096, PageUse.BUFFER)).isEqualTo(BASE + 2 * 4096);
        assertThat(failures.events(Point.PAGE_ALLOCATION)).isEqualTo(3);
        assertThat(failures.events(Point.TABLE_PAGE_ALLOCATION)).isEqualTo(1);
    }

    @Test
    void injectedTablePageFailureHitsOnlyPageTableAllocations() {
        PageAllocator a = memory.allocator();
        failures.failNth(Point.TABLE_PAGE_ALLOCATION, 1);
        a.allocate(4096, PageUse.BUFFER);
        assertThatThrownBy(() -> a.allocate(4096, PageUse.PAGE_TABLE))
                .isInstanceOf(PhysicalMemoryExhaustedException.class);
        assertThat(a.usage().tableBytes()).isZero();
    }

    @Test
    void injectedIovaFailureChangesNothing() {
        IovaAllocator iovas = new IovaAllocator(0x1000, 0x10_0000, 0x1000, failures);
        iovas.allocate(0x1000, 0x1000);
        failures.failNth(Point.IOVA_ALLOCATION, 1);
        IovaAllocator.Snapshot before = iovas.snapshot();
        assertThatThrownBy(() -> iovas.allocate(0x1000, 0x1000)).isInstanceOf(IovaSpaceExhaustedException.class);
        assertThat(iovas.snapshot()).isEqualTo(before);
        failures.failNth(Point.IOVA_ALLOCATION, 1);
        assertThatThrownBy(() -> iovas.allocateAt(0x2000, 0x1000)).isInstanceOf(IovaSpaceExhaustedException.class);
        assertThat(iovas.snapshot()).isEqualTo(before);
        assertThat(iovas.allocate(0x1000, 0x1000)).isEqualTo(0x10_0000 - 0x2000);
    }

    @Test
    void noneGivesAnUnarmedInjectorOfItsOwn() {
        FailureInjector one = FailureInjector.none();
        FailureInjector other = FailureInjector.none();
        one.check(Point.IOVA_ALLOCATION);
        assertThat(one.pending(Point.IOVA_ALLOCATION)).isFalse();
        one.failNth(Point.IOVA_ALLOCATION, 1);
        other.check(Point.IOVA_ALLOCATION);
        assertThat(other.pending(Point.IOVA_ALLOCATION))
                .as("arming one leaves the other unarmed")
                .isFalse();
        assertThatThrownBy(() -> one.check(Point.IOVA_ALLOCATION)).isInstanceOf(IovaSpaceExhaustedException.class);
    }
}
