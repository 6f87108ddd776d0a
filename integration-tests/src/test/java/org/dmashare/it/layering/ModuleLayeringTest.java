package org.dmashare.it.layering;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.Dependency;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchCondition;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.lang.ConditionEvents;
import com.tngtech.archunit.lang.SimpleConditionEvent;
import java.util.List;

/**
 * The module rules of {@code DESIGN.md} ("Modules"), checked over the main classes of every module
 * on this test class path: backends depend on each other only through the core ({@code
 * dmashare-api}); the core names nothing built on it; the DMA-API model and the Guice module name
 * no backend. The core's inner layering is checked in {@code dmashare-api} itself
 * ({@code org.dmashare.layering.CoreLayeringTest}).
 */
@AnalyzeClasses(packages = "org.dmashare", importOptions = ImportOption.DoNotIncludeTests.class)
class ModuleLayeringTest {
    /** The core's packages: what {@code dmashare-api} holds. */
    private static final List<String> CORE = List.of(
            "org.dmashare",
            "org.dmashare.internal",
            "org.dmashare.memory",
            "org.dmashare.iova",
            "org.dmashare.pgtable",
            "org.dmashare.iommu",
            "org.dmashare.iommu.support",
            "org.dmashare.sharing");

    /** Each backend's package: the two shipped ones, the example written as a user would, and those planned. */
    private static final List<String> BACKENDS = List.of(
            "org.dmashare.generic",
            "org.dmashare.dart",
            "org.dmashare.examples.flat",
            "org.dmashare.v7s",
            "org.dmashare.amd");

    /** Packages built on the core that are not backends. */
    private static final List<String> ABOVE_THE_CORE = List.of(
            "org.dmashare.dmaapi",
            "org.dmashare.inject",
            "org.dmashare.examples",
            "org.dmashare.testkit",
            "org.dmashare.benchmarks");

    private static boolean inOrUnder(String pkg, String root) {
        return pkg.equals(root) || pkg.startsWith(root + ".");
    }

    private static boolean isCore(String pkg) {
        return CORE.contains(pkg);
    }

    /** The backend package {@code pkg} belongs to, or null. */
    private static String backendOf(String pkg) {
        for (String b : BACKENDS) {
            if (inOrUnder(pkg, b)) {
                return b;
            }
        }
        return null;
    }

    private static final DescribedPredicate<JavaClass> IN_A_BACKEND =
            DescribedPredicate.describe("are in a backend " + BACKENDS, c -> backendOf(c.getPackageName()) != null);

    private static final DescribedPredicate<JavaClass> IN_THE_CORE =
            DescribedPredicate.describe("are in the core " + CORE, c -> isCore(c.getPackageName()));

    private static final DescribedPredicate<JavaClass> BUILT_ON_THE_CORE = DescribedPredicate.describe(
            "are in a backend or a module built on the core",
            c -> backendOf(c.getPackageName()) != null
                    || ABOVE_THE_CORE.stream().anyMatch(p -> inOrUnder(c.getPackageName(), p)));

    /** A backend's class may name the JDK, the core, its own backend and AutoService's annotation. */
    private static final ArchCondition<JavaClass> NAME_ONLY_THE_JDK_THE_CORE_AND_THEIR_OWN_BACKEND =
            new ArchCondition<>("name only the JDK, the core and their own backend") {
                @Override
                public void check(JavaClass c, ConditionEvents events) {
                    String own = backendOf(c.getPackageName());
                    for (Dependency d : c.getDirectDependenciesFromSelf()) {
                        String target =
                                d.getTargetClass().getBaseComponentType().getPackageName();
                        boolean allowed = target.startsWith("java.")
                                || isCore(target)
                                || inOrUnder(target, own)
                                || inOrUnder(target, "com.google.auto.service");
                        if (!allowed) {
                            events.add(SimpleConditionEvent.violated(d, d.getDescription()));
                        }
                    }
                }
            };

    @ArchTest
    static final ArchRule backendsDependOnEachOtherOnlyThroughTheCore = classes()
            .that(IN_A_BACKEND)
            .should(NAME_ONLY_THE_JDK_THE_CORE_AND_THEIR_OWN_BACKEND)
            .because("DESIGN.md: backends and examples never depend on each other except through api");

    @ArchTest
    static final ArchRule coreNamesNothingBuiltOnIt = noClasses()
            .that(IN_THE_CORE)
            .should()
            .dependOnClassesThat(BUILT_ON_THE_CORE)
            .because("DESIGN.md: api never names a backend, and holds nothing but the core");

    @ArchTest
    static final ArchRule dmaApiModelAndGuiceModuleNameNoBackend = noClasses()
            .that()
            .resideInAnyPackage("org.dmashare.dmaapi..", "org.dmashare.inject..")
            .should()
            .dependOnClassesThat(IN_A_BACKEND)
            .because("they run over whatever backends ServiceLoader finds");
}
