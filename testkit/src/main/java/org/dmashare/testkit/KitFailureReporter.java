package org.dmashare.testkit;

import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;
import org.opentest4j.TestAbortedException;

/**
 * Prefixes every failure of a kit check with the kit subclass, the unit under test and the ID of
 * the rule the check proves, so that a failure in a suite that runs the kit for several variants
 * says which one broke and which rule; and turns an unexpected exception from the backend into a
 * failure naming the rule, the check and what the backend threw. Skips (assumption failures) pass
 * through unchanged. Generated checks ({@link KitFixture#onlyIf}) report through {@link #report}.
 */
final class KitFailureReporter implements TestExecutionExceptionHandler {

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable thrown) throws Throwable {
        if (thrown instanceof TestAbortedException) {
            throw thrown;
        }
        String where = context.getTestInstances()
                .flatMap(all -> all.findInstance(IommuBackendConformanceKit.class))
                .map(kit -> kit.getClass().getSimpleName() + " on " + kit.iommu())
                .orElse(context.getRequiredTestClass().getSimpleName());
        Checks checks = context.getRequiredTestMethod().getAnnotation(Checks.class);
        throw report(
                where,
                checks == null ? null : checks.value(),
                context.getRequiredTestMethod().getName(),
                thrown);
    }

    /**
     * The failure to report for {@code thrown}: an assertion failure keeps its message and stack
     * behind the prefix; any other exception becomes a failure saying the backend threw it.
     *
     * @param where the kit subclass and the unit
     * @param rule the rule the check proves, or null for a check that names none
     * @param check the check's method name
     * @param thrown what the check threw
     * @return the failure to throw instead
     */
    static AssertionError report(String where, KitRule rule, String check, Throwable thrown) {
        String prefix = "[" + where + "] " + (rule == null ? "" : rule.id() + " ");
        if (thrown instanceof AssertionError) {
            AssertionError e = new AssertionError(prefix + thrown.getMessage(), thrown.getCause());
            e.setStackTrace(thrown.getStackTrace());
            return e;
        }
        return new AssertionError(prefix + "check '" + check + "' broken: the backend threw " + thrown, thrown);
    }
}
