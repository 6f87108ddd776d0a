package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Iommu;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.TableLifetime;
import org.junit.jupiter.api.Test;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * Runs the kit, through the JUnit launcher, against a correct test backend (every check passes;
 * none is skipped for a capability it does not declare) and against backends with one deliberate
 * bug each (the check for that rule fails, naming the rule and what the backend did).
 */
class ConformanceKitSelfTest {

    /** A kit over the test backend; the subclasses pick the bugs and the declaration. */
    abstract static class TestKit extends IommuBackendConformanceKit {
        Set<TestBackend.Bug> bugs() {
            return Set.of();
        }

        @Override
        protected Iommu createIommu(PhysicalMemory memory, int streams) {
            return TestBackend.create(memory, streams, 12, bugs());
        }

        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(4096)
                    .pageSizes((1L << 12) | (1L << 21))
                    .blockMappings(true)
                    .writeOnly(true)
                    .build();
        }

        /** The generic backend is not on this module's class path: stand in with test units. */
        @Override
        protected Iommu createPartnerIommu(PhysicalMemory memory, String variant) {
            return TestBackend.create(memory, 2, variant.equals("lpae-64k") ? 16 : 12, Set.of());
        }
    }

    static class Correct extends TestKit {}

    /** A 16 KiB granule over 4 KiB CPU pages, as Apple's DART under a 4 KiB kernel. */
    static class Correct16k extends TestKit {
        @Override
        protected Iommu createIommu(PhysicalMemory memory, int streams) {
            return TestBackend.create(memory, streams, 14, bugs());
        }

        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(1L << 14)
                    .pageSizes((1L << 14) | (1L << 25))
                    .blockMappings(true)
                    .writeOnly(true)
                    .streams(3)
                    .build();
        }
    }

    static class FlushOnUnmap extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.FLUSH_ON_UNMAP);
        }
    }

    static class IovaToPhysOff extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.IOVA_TO_PHYS_OFF_BY_A_GRANULE);
        }
    }

    static class IgnoresReadOnly extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.IGNORES_READ_ONLY);
        }
    }

    static class LeaksTables extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.LEAKS_TABLES_ON_CLOSE);
        }
    }

    static class IgnoresInjectedMapFailure extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.IGNORES_INJECTED_MAP_FAILURE);
        }
    }

    static class LargeBlockStrayAddressBit extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.LARGE_BLOCK_STRAY_ADDRESS_BIT);
        }

        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(4096)
                    .pageSizes((1L << 12) | (1L << 21) | (1L << 25))
                    .blockMappings(true)
                    .writeOnly(true)
                    .build();
        }
    }

    static class MemoryBeyondTheOutputWidth extends TestKit {
        @Override
        protected PhysicalMemory createMemory() {
            return PhysicalMemory.create(1L << 40, 1L << 30, 4096); // the test unit's output width is 40 bits
        }
    }

    static class NoApertureCheck extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.NO_APERTURE_CHECK);
        }
    }

    static class OverwritesOnConflict extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.OVERWRITES_ON_CONFLICT);
        }
    }

    static class StreamsShareOneTable extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.STREAMS_SHARE_ONE_TABLE);
        }
    }

    static class MapNotAtomic extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.MAP_NOT_ATOMIC);
        }
    }

    static class UnmapMiscounts extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.UNMAP_MISCOUNTS);
        }
    }

    /** Gives every leaf a sub-page window although it declares no sub-page protection. */
    static class UndeclaredSubPageWindows extends TestKit {
        @Override
        Set<TestBackend.Bug> bugs() {
            return EnumSet.of(TestBackend.Bug.HALF_PAGE_WINDOWS);
        }
    }

    /** Declares bypass although the test backend has none. */
    static class OverDeclared extends TestKit {
        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(4096)
                    .pageSizes((1L << 12) | (1L << 21))
                    .blockMappings(true)
                    .writeOnly(true)
                    .bypass(true)
                    .build();
        }
    }

    /**
     * Declares one stream and no block mappings, bypass or sub-page protection: the test backend
     * has no bypass or sub-page windows, but it does map blocks, so the block checks fail.
     */
    static class UnderDeclared extends TestKit {
        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(4096)
                    .pageSizes((1L << 12) | (1L << 21))
                    .streams(1)
                    .writeOnly(true)
                    .build();
        }
    }

    /** Does not declare write-only mappings, which the test backend grants. */
    static class WriteOnlyUndeclared extends TestKit {
        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(4096)
                    .pageSizes((1L << 12) | (1L << 21))
                    .blockMappings(true)
                    .build();
        }
    }

    /** Declares that tables live until the domain is freed; the test backend's format frees whole blocks. */
    static class WrongLifetime extends TestKit {
        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(4096)
                    .pageSizes((1L << 12) | (1L << 21))
                    .blockMappings(true)
                    .writeOnly(true)
                    .tableLifetime(TableLifetime.UNTIL_FREED)
                    .build();
        }
    }

    /** Check method name to its outcome: every test the kit ran, generated ones under their factory's name. */
    private static Map<String, TestExecutionResult> run(Class<?> kit) {
        return run(kit, selectClass(kit));
    }

    private static Map<String, TestExecutionResult> run(Class<?> kit, DiscoverySelector selector) {
        return launch(selector).results();
    }

    /** What one launch of the kit reported: outcomes, display names and skipped tests, by check method name. */
    private record Report(
            Map<String, TestExecutionResult> results, Map<String, String> displayNames, List<String> skipped) {}

    private static Report launch(DiscoverySelector selector) {
        Report report = new Report(new TreeMap<>(), new TreeMap<>(), new ArrayList<>());
        Launcher launcher = LauncherFactory.create();
        launcher.execute(
                LauncherDiscoveryRequestBuilder.request().selectors(selector).build(), new TestExecutionListener() {
                    @Override
                    public void executionSkipped(TestIdentifier id, String reason) {
                        report.skipped().add(id.getDisplayName() + ": " + reason);
                    }

                    @Override
                    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                        if (!id.isTest()) {
                            return;
                        }
                        id.getSource()
                                .filter(MethodSource.class::isInstance)
                                .map(MethodSource.class::cast)
                                .ifPresent(m -> {
                                    report.results().put(m.getMethodName(), result);
                                    report.displayNames().put(m.getMethodName(), id.getDisplayName());
                                });
                    }
                });
        return report;
    }

    private static String message(TestExecutionResult r) {
        return r.getThrowable().map(Throwable::getMessage).orElse("");
    }

    /** The rule a check of the kit proves. */
    private static KitRule ruleOf(String check) {
        return Arrays.stream(IommuBackendConformanceKit.class.getMethods())
                .filter(m -> m.getName().equals(check))
                .map(m -> m.getAnnotation(Checks.class))
                .filter(Objects::nonNull)
                .findFirst()
                .orElseThrow()
                .value();
    }

    private static void onlyFails(Class<?> kit, String check, String ruleText) {
        Map<String, TestExecutionResult> results = run(kit, selectMethod(kit, check));
        assertThat(results).containsKey(check);
        TestExecutionResult r = results.get(check);
        assertThat(r.getStatus())
                .as(check + " against " + kit.getSimpleName())
                .isEqualTo(TestExecutionResult.Status.FAILED);
        assertThat(message(r))
                .as("failure message of " + check)
                .contains(ruleText)
                .startsWith("[" + kit.getSimpleName() + " on test test-4k IOMMU 'test-unit'")
                .contains("] " + ruleOf(check).id() + " ");
    }

    @Test
    void aCorrectBackendWithA16KiBGranuleOver4KiBPagesPassesEveryCheck() {
        Report report = launch(selectClass(Correct16k.class));
        assertThat(report.results()).hasSizeGreaterThan(40);
        assertThat(report.skipped()).isEmpty();
        report.results()
                .forEach((check, r) -> assertThat(r.getStatus())
                        .as(check + ": "
                                + r.getThrowable().map(Throwable::toString).orElse(""))
                        .isEqualTo(TestExecutionResult.Status.SUCCESSFUL));
    }

    @Test
    void aCorrectBackendPassesEveryCheckAndSkipsNoneForAnUndeclaredCapability() {
        Report report = launch(selectClass(Correct.class));
        assertThat(report.results()).hasSizeGreaterThan(40);
        assertThat(report.skipped()).isEmpty();
        report.results()
                .forEach((check, r) -> assertThat(r.getStatus())
                        .as(check + ": "
                                + r.getThrowable().map(Throwable::toString).orElse(""))
                        .isEqualTo(TestExecutionResult.Status.SUCCESSFUL));
    }

    @Test
    void everyCheckIsDisplayedAsItsRuleIdAndStatement() {
        Report report = launch(selectClass(Correct.class));
        assertThat(report.displayNames()).isNotEmpty();
        report.displayNames()
                .forEach((check, name) ->
                        assertThat(name).as(check).isEqualTo(ruleOf(check).displayName()));
    }

    @Test
    void everyRuleIsCheckedByExactlyOneMethodOfTheKit() {
        List<KitRule> checked = Arrays.stream(IommuBackendConformanceKit.class.getMethods())
                .map(m -> m.getAnnotation(Checks.class))
                .filter(Objects::nonNull)
                .map(Checks::value)
                .sorted()
                .toList();
        assertThat(checked).containsExactly(KitRule.values());
    }

    @Test
    void ruleIdsFollowTheirConstantsAndAreFoundById() {
        assertThat(KitRule.MAP_3.id()).isEqualTo("MAP-3");
        assertThat(KitRule.byId("IOTLB-2")).isEqualTo(KitRule.IOTLB_2);
        assertThat(KitRule.UNMAP_1.displayName()).isEqualTo("UNMAP-1 " + KitRule.UNMAP_1.statement());
        assertThatThrownBy(() -> KitRule.byId("MAP-99"))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("'MAP-99'")
                .hasMessageContaining("DECL-1");
    }

    /**
     * One declaration selects one rule of each capability pair: with one stream, no block mappings,
     * no bypass and no sub-page protection, exactly the "without" rules run and pass (but the block
     * ones, since the test backend does map blocks), and the rules that need two streams are not
     * generated at all, so nothing is skipped.
     */
    @Test
    void undeclaredCapabilitiesSelectTheirWithoutRulesAndNothingIsSkipped() {
        Report report = launch(selectClass(UnderDeclared.class));
        Map<String, TestExecutionResult> results = report.results();
        assertThat(report.skipped()).isEmpty();
        assertThat(results.values())
                .extracting(TestExecutionResult::getStatus)
                .doesNotContain(TestExecutionResult.Status.ABORTED);
        assertThat(results)
                .doesNotContainKeys(
                        "domainsIsolateStreams",
                        "streamsSharingDomainSeeSameMemory",
                        "mapUsesBlockLeaves",
                        "straddlingRangeGetsBlockInside",
                        "unmapRefusesToCutBlock",
                        "identityDomainPassesThrough",
                        "writeOnlyRefusedWithoutIt",
                        "accessOutsideSubPageWindowFaults");
        for (String check :
                new String[] {"identityDomainRefusedWithoutBypass", "readOfWriteOnlyFaults", "noSubPageWindowWithoutIt"
                }) {
            assertThat(results).containsKey(check);
            assertThat(results.get(check).getStatus())
                    .as(check + ": " + message(results.get(check)))
                    .isEqualTo(TestExecutionResult.Status.SUCCESSFUL);
        }
    }

    @Test
    void theReadmeRuleTableListsExactlyTheKitsRules() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher row = Pattern.compile("(?m)^\\| `([A-Z]+-[0-9]+)` \\|").matcher(readme);
        List<String> listed = new ArrayList<>();
        while (row.find()) {
            listed.add(row.group(1));
        }
        assertThat(listed)
                .as("rule IDs in the README's rule table, in order")
                .containsExactlyElementsOf(
                        Arrays.stream(KitRule.values()).map(KitRule::id).toList());
    }

    @Test
    void aBackendThatMapsBlocksItDoesNotDeclareIsCaught() {
        onlyFails(
                UnderDeclared.class,
                "mapUsesGranulePagesWithoutBlocks",
                "rule 'without block mappings, map uses granule pages even where a block would fit' broken: after"
                        + " map(");
        onlyFails(
                UnderDeclared.class,
                "straddlingRangeGetsGranulePagesWithoutBlocks",
                "rule 'without block mappings, map uses granule pages throughout a range straddling a would-be block'");
        onlyFails(
                UnderDeclared.class,
                "unmapCutsPageRunWithoutBlocks",
                "rule 'without block mappings, unmap of one granule from the middle of a block-sized range succeeds"
                        + " and leaves the rest mapped' broken: unmap(");
    }

    @Test
    void aBackendWhoseTablesLiveOtherwiseThanDeclaredIsCaught() {
        onlyFails(WrongLifetime.class, "tablesLiveAsDeclared", "rule 'the declared table lifetime is the format's'");
    }

    @Test
    void aBackendWithSubPageWindowsItDoesNotDeclareIsCaught() {
        onlyFails(
                UndeclaredSubPageWindows.class,
                "noSubPageWindowWithoutIt",
                "rule 'without sub-page protection no leaf has a sub-page window and devices reach the whole page'"
                        + " broken: the hardware walk at IOVA 0x1000 finds");
    }

    @Test
    void aBackendThatGrantsWriteOnlyItDoesNotDeclareIsCaught() {
        onlyFails(
                WriteOnlyUndeclared.class,
                "writeOnlyRefusedWithoutIt",
                "rule 'a format without write-only mappings refuses Prot.WRITE instead of granting reads' broken:"
                        + " map(0x1000, .., Prot.WRITE) should throw InvalidArgumentException but the backend"
                        + " completed normally");
    }

    @Test
    void aBackendThatFlushesOnUnmapBreaksStaleUntilFlush() {
        onlyFails(
                FlushOnUnmap.class,
                "unmapStaysStaleUntilFlush",
                "rule 'a cached translation stays usable until flushIotlb (stale until flush)' broken: after unmap"
                        + " without flush the device access faulted");
    }

    @Test
    void aBackendThatFlushesOnUnmapBreaksTheGatherForm() {
        onlyFails(
                FlushOnUnmap.class,
                "unmapFastIsStaleUntilTheGatherIsSynced",
                "rule 'unmapFast is stale until the gather is synced' broken: a device read at IOVA");
    }

    @Test
    void aBackendWhoseIovaToPhysDisagreesWithTheWalkIsCaught() {
        onlyFails(IovaToPhysOff.class, "iovaToPhysAgreesWithWalk", "rule 'iovaToPhys agrees with the hardware walk'");
    }

    @Test
    void aBackendThatIgnoresReadOnlyIsCaught() {
        onlyFails(
                IgnoresReadOnly.class,
                "writeToReadOnlyFaults",
                "rule 'a device write to a read-only mapping faults with PERMISSION and writes nothing' broken: a device"
                        + " write to read-only IOVA 0x1000 should throw DeviceFaultException but the backend completed"
                        + " normally");
        onlyFails(
                IgnoresReadOnly.class,
                "walkReportsGrantedRights",
                "rule 'a READ leaf allows reads and forbids writes'");
    }

    @Test
    void aBackendThatLeaksTablesOnCloseIsCaught() {
        onlyFails(
                LeaksTables.class,
                "closeReturnsEveryTablePage",
                "rule 'closing a domain returns every table page to the page allocator'");
    }

    @Test
    void aDomainThatNeverHonoursAnInjectedMapFailureIsCaught() {
        onlyFails(
                IgnoresInjectedMapFailure.class,
                "failedMapChangesNothing",
                "the domain never honours an injected map failure");
    }

    @Test
    void aWrongAddressInALargerBlockThanTheSmallestIsCaughtByTheEveryPageSizeCheckAlone() {
        Map<String, TestExecutionResult> results = run(LargeBlockStrayAddressBit.class);
        results.forEach((check, r) -> {
            if (check.equals("everyPageSizeMapsAsOneLeaf")) {
                assertThat(r.getStatus()).isEqualTo(TestExecutionResult.Status.FAILED);
                assertThat(message(r))
                        .contains("every declared page size is mapped as one leaf of that size")
                        .contains("32 MiB");
            } else {
                assertThat(r.getStatus())
                        .as(check + ": " + message(r))
                        .isEqualTo(TestExecutionResult.Status.SUCCESSFUL);
            }
        });
    }

    @Test
    void memoryTheUnitCannotReachIsOneSetupFailureAndEveryOtherCheckIsSkipped() {
        Map<String, TestExecutionResult> results = run(MemoryBeyondTheOutputWidth.class);
        assertThat(results).hasSizeGreaterThan(40);
        results.forEach((check, r) -> {
            if (check.equals("memoryAndWidthsAgree")) {
                assertThat(r.getStatus()).isEqualTo(TestExecutionResult.Status.FAILED);
                assertThat(message(r)).contains("kit setup: memory [0x100_0000_0000, ", "40-bit output width");
            } else {
                assertThat(r.getStatus()).as(check).isEqualTo(TestExecutionResult.Status.ABORTED);
            }
        });
    }

    @Test
    void aBackendThatMapsOutsideItsApertureIsCaught() {
        onlyFails(
                NoApertureCheck.class,
                "mapRefusesOutsideAperture",
                "rule 'map refuses ranges outside the aperture' broken: map(");
    }

    @Test
    void aBackendThatOverwritesExistingMappingsIsCaught() {
        onlyFails(
                OverwritesOnConflict.class,
                "mapRefusesOverlap",
                "should throw MappingConflictException but the backend completed normally");
    }

    @Test
    void aBackendWhoseStreamsShareOneTableIsCaught() {
        onlyFails(
                StreamsShareOneTable.class,
                "domainsIsolateStreams",
                "rule 'each stream walks its own domain's tables'");
    }

    @Test
    void aBackendWhoseFailedMapLeavesPartOfTheRangeMappedIsCaught() {
        onlyFails(
                MapNotAtomic.class,
                "failedMapChangesNothing",
                "rule 'a map that fails partway (table page or map failure) changes nothing' broken: map(");
    }

    @Test
    void aBackendThatMiscountsUnmappedBytesIsCaughtByTheRandomRun() {
        onlyFails(
                UnmapMiscounts.class,
                "randomMapsAgreeWithModel",
                "rule 'map and unmap behave as a reference model of their rules (seed ");
        onlyFails(UnmapMiscounts.class, "unmapReturnsBytesUnmapped", "rule 'unmap returns the bytes unmapped'");
    }

    @Test
    void aBackendThatDeclaresBypassItLacksIsCaught() {
        onlyFails(
                OverDeclared.class,
                "identityDomainPassesThrough",
                "rule 'a unit declaring bypass creates identity domains' broken: createDomain(IDENTITY) threw");
    }
}
