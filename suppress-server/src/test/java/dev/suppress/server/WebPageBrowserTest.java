package dev.suppress.server;

import dev.suppress.core.Suppressor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The web page in a real browser: headless Chromium (Debian's {@code chromium} and {@code chromium-driver}) driven
 * by Selenium, against the server on an ephemeral port around the fixture model.
 *
 * <p>Skipped, with a message saying what to install, only when Chromium or its driver is not installed; any other
 * failure to start the browser fails the test.
 */
@Timeout(600)
class WebPageBrowserTest {

    /** How long the page may take to reach a state before the test fails instead of hanging (not a bound). */
    static final Duration WAIT = Duration.ofSeconds(180);

    /** Where Debian's packages put the browser and its driver; {@code CHROME_BIN}/{@code CHROMEDRIVER} override. */
    static final List<String> BROWSERS = List.of("/usr/bin/chromium", "/usr/bin/chromium-browser");
    static final List<String> DRIVERS = List.of("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver");

    @TempDir
    static Path output;

    static Suppressor suppressor;
    static SuppressServer server;
    static WebDriver browser;

    @BeforeAll
    static void start() {
        Optional<Path> chromium = find("CHROME_BIN", BROWSERS);
        Optional<Path> driver = find("CHROMEDRIVER", DRIVERS);
        assumeTrue(chromium.isPresent() && driver.isPresent(), "Chromium or chromedriver is not installed (looked "
                + "for " + BROWSERS + " and " + DRIVERS + "): install the Debian packages chromium and "
                + "chromium-driver (.ci/run does) to run the browser tests");
        suppressor = Suppressor.builder().modelFolder(Fixtures.tinyModel()).build();
        server = SuppressServer.builder(suppressor, Fixtures.tinyModel()).port(0).outputFolder(output).start();

        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium.get().toFile());
        // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1100");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(driver.get().toFile()).usingAnyFreePort().build();
        browser = new ChromeDriver(service, options);
    }

    @AfterAll
    static void stop() {
        try {
            if (browser != null) {
                browser.quit();
            }
        } finally {
            try {
                if (server != null) {
                    server.close();
                }
            } finally {
                if (suppressor != null) {
                    suppressor.close();
                }
            }
        }
    }

    @Test
    void typeAPromptClickAWordAndWatchTheImagesCome() throws IOException {
        open();
        typePrompt("a man without glasses");
        clickChip("glasses");
        setSmallJob(4);
        browser.findElement(By.id("start")).click();

        WebDriverWait wait = new WebDriverWait(browser, WAIT);
        wait.until(ExpectedConditions.textToBe(By.id("progress-text"), "100%"));
        wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("result")));
        for (String image : List.of("original", "suppressed", "heatmaps")) {
            wait.until(d -> loaded(d.findElement(By.id(image))));
        }
        assertEquals(SuppressServerApiTest.SIZE, naturalWidth("suppressed"), "the suppressed image, at its size");
        assertTrue(naturalWidth("heatmaps") > SuppressServerApiTest.SIZE, "one heat map per token");
        String shownOptions = browser.findElement(By.id("options")).getText();
        assertTrue(shownOptions.contains("\"tokenIndices\": [\n    4\n  ]"), "the clicked token was sent: "
                + shownOptions);
        assertTrue(shownOptions.contains("\"seed\": 0"), shownOptions);
        assertTrue(browser.findElement(By.id("status")).getText().contains("done"),
                browser.findElement(By.id("status")).getText());
        screenshot("page.png");
    }

    @Test
    void cancelAJobFromThePage() {
        open();
        typePrompt("a man without glasses");
        browser.findElement(By.id("words")).sendKeys("glasses");
        setSmallJob(200);
        browser.findElement(By.id("start")).click();
        WebDriverWait wait = new WebDriverWait(browser, WAIT);
        wait.until(ExpectedConditions.textMatches(By.id("status"), java.util.regex.Pattern.compile("running.*step")));
        browser.findElement(By.id("cancel")).click();
        wait.until(ExpectedConditions.textMatches(By.id("status"), java.util.regex.Pattern.compile("cancelled")));
        assertTrue(!browser.findElement(By.id("result")).isDisplayed(), "no result for a cancelled job");
    }

    @Test
    void aBadOptionShowsTheServersMessage() {
        open();
        typePrompt("a man without glasses");
        browser.findElement(By.id("words")).sendKeys("hat");
        setSmallJob(4);
        browser.findElement(By.id("start")).click();
        WebElement error = new WebDriverWait(browser, WAIT)
                .until(ExpectedConditions.visibilityOfElementLocated(By.id("error")));
        String message = error.getText();
        assertTrue(message.startsWith("suppress: Word 'hat'"), message);
        assertTrue(message.contains("is not in the prompt 'a man without glasses'"), message);

        browser.findElement(By.id("words")).clear();
        browser.findElement(By.id("words")).sendKeys("glasses");
        setField("steps", "0");
        browser.findElement(By.id("start")).click();
        new WebDriverWait(browser, WAIT).until(ExpectedConditions.textToBe(By.id("error"),
                "steps: steps must be in 1..1000, got 0"));
    }

    @Test
    void aLongPromptShowsTheTruncationWarning() {
        open();
        String prompt = "a man without glasses" + " and a dog".repeat(26);
        WebElement box = browser.findElement(By.id("prompt"));
        box.clear();
        box.sendKeys(prompt);
        new WebDriverWait(browser, WAIT).until(d -> chipTexts().length() > 40);
        browser.findElement(By.id("words")).sendKeys("glasses");
        setSmallJob(2);
        setField("itoIterations", "0");
        browser.findElement(By.id("start")).click();
        WebElement warnings = new WebDriverWait(browser, WAIT)
                .until(ExpectedConditions.visibilityOfElementLocated(By.id("warnings")));
        assertTrue(warnings.getText().startsWith("warning: The prompt has 82 tokens"), warnings.getText());
        assertTrue(warnings.getText().contains("removed the last 7"), warnings.getText());
        new WebDriverWait(browser, WAIT).until(ExpectedConditions.textMatches(By.id("status"),
                java.util.regex.Pattern.compile("done")));

        typePrompt("a man without glasses");
        browser.findElement(By.id("start")).click();
        new WebDriverWait(browser, WAIT).until(ExpectedConditions.invisibilityOfElementLocated(By.id("warnings")));
    }

    private static void open() {
        browser.get(server.uri().toString());
        new WebDriverWait(browser, WAIT).until(d -> !d.findElements(By.cssSelector("#tokens .chip")).isEmpty());
    }

    /** Types the prompt and waits until the chips show exactly its words (the page re-tokenizes as one types). */
    private static void typePrompt(String prompt) {
        WebElement box = browser.findElement(By.id("prompt"));
        box.clear();
        box.sendKeys(prompt);
        new WebDriverWait(browser, WAIT).until(d -> prompt.equals(chipTexts()));
    }

    /** The chips' token texts, space-separated, read in one script call (chips are redrawn, never stale here). */
    private static String chipTexts() {
        return (String) ((JavascriptExecutor) browser).executeScript("return [...document.querySelectorAll("
                + "'#tokens .chip')].map((chip) => chip.dataset.text).join(' ')");
    }

    private static By chip(String text) {
        return By.cssSelector("#tokens .chip[data-text='" + text + "']");
    }

    private static void clickChip(String text) {
        new WebDriverWait(browser, WAIT).ignoring(StaleElementReferenceException.class).until(d -> {
            d.findElement(chip(text)).click();
            return true;
        });
        new WebDriverWait(browser, WAIT).ignoring(StaleElementReferenceException.class)
                .until(d -> d.findElement(chip(text)).getAttribute("class").contains("selected"));
    }

    /** Small and fast: 64 px, two ITO iterations. */
    private static void setSmallJob(int steps) {
        setField("steps", Integer.toString(steps));
        setField("size", Integer.toString(SuppressServerApiTest.SIZE));
        setField("itoIterations", "2");
    }

    private static void setField(String id, String value) {
        WebElement field = browser.findElement(By.id(id));
        field.clear();
        field.sendKeys(value);
    }

    private static boolean loaded(WebElement image) {
        Object complete = ((JavascriptExecutor) browser).executeScript(
                "return arguments[0].complete && arguments[0].naturalWidth > 0", image);
        return Boolean.TRUE.equals(complete);
    }

    private static long naturalWidth(String id) {
        return (Long) ((JavascriptExecutor) browser).executeScript("return arguments[0].naturalWidth",
                browser.findElement(By.id(id)));
    }

    /** For the README: target/screenshots/NAME. */
    private static void screenshot(String name) throws IOException {
        Path folder = Path.of("target", "screenshots");
        Files.createDirectories(folder);
        Files.write(folder.resolve(name), ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES));
    }

    private static Optional<Path> find(String variable, List<String> candidates) {
        String configured = System.getenv(variable);
        if (configured != null && !configured.isBlank()) {
            Path path = Path.of(configured);
            if (!Files.isExecutable(path)) {
                throw new AssertionError(variable + "=" + configured + " is not an executable file");
            }
            return Optional.of(path);
        }
        return candidates.stream().map(Path::of).filter(Files::isExecutable).findFirst();
    }
}
